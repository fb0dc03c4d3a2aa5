//! Where in the JSON text we are: inside a string or not, and which
//! containers are open. Just enough lexing for [`super::Constraint`] to
//! choose closing bytes and to recognise tokens that start another array
//! element; the grammar engine does the real checking.

/// The lexical position after some prefix of a JSON text.
#[derive(Debug, Clone, Default)]
pub(super) struct JsonCursor {
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// Open containers, innermost last: `{` or `[`.
    stack: Vec<u8>,
}

impl JsonCursor {
    /// Advances over `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.stack.push(b),
                b'}' | b']' => {
                    self.stack.pop();
                }
                _ => {}
            }
        }
    }

    /// Inside a string (the bytes so far opened one and did not close it).
    pub fn in_string(&self) -> bool {
        self.in_string
    }

    /// The innermost open container, `{` or `[`.
    pub fn innermost(&self) -> Option<u8> {
        self.stack.last().copied()
    }

    /// Whether `bytes`, written from here, contain a `,` that separates two
    /// elements of an array (as opposed to one inside a string or between
    /// an object's members). Does not move the cursor.
    pub fn starts_array_element(&self, bytes: &[u8]) -> bool {
        let (mut in_string, mut escaped) = (self.in_string, self.escaped);
        // Containers opened within `bytes`, and how many of ours it closed.
        let mut opened: Vec<u8> = Vec::new();
        let mut closed = 0usize;
        for &b in bytes {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => opened.push(b),
                b'}' | b']' => closed += usize::from(opened.pop().is_none()),
                b',' => {
                    let innermost = opened.last().copied().or_else(|| {
                        let depth = self.stack.len().checked_sub(closed + 1)?;
                        Some(self.stack[depth])
                    });
                    if innermost == Some(b'[') {
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(prefix: &str) -> JsonCursor {
        let mut c = JsonCursor::default();
        c.feed(prefix.as_bytes());
        c
    }

    #[test]
    fn tracks_strings_escapes_and_containers() {
        let c = at(r#"{"a":["x\"]"#);
        assert!(c.in_string());
        assert_eq!(c.innermost(), Some(b'['));
        let c = at(r#"{"a":["x\\"]"#);
        assert!(!c.in_string());
        assert_eq!(c.innermost(), Some(b'{'));
    }

    #[test]
    fn finds_commas_between_array_elements() {
        let in_list = at(r#"{"a":["x"#);
        assert!(in_list.starts_array_element(br#"","#));
        assert!(!in_list.starts_array_element(b"y, z"));
        assert!(!in_list.starts_array_element(br#""],"#));
        assert!(in_list.starts_array_element(br#""],"b":[1,"#));
        let in_object = at(r#"{"a":"x"#);
        assert!(!in_object.starts_array_element(br#"","#));
        let in_items = at(r#"{"d":[{"n":"x"#);
        assert!(!in_items.starts_array_element(br#"","#));
        assert!(in_items.starts_array_element(br#""},"#));
    }
}
