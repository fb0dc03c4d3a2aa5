//! Keyboard focus handed from a button that vanishes when pressed to the
//! button of the view that replaces it.
//!
//! In the model status, pressing Cancel swaps the progress view for the
//! "Load the model" view, and pressing that swaps it back. Without a hand-off
//! the browser drops focus to the top of the page and a keyboard user has to
//! tab back down. Focus is moved only after a press, never on a view that
//! appears by itself (the first load), so typing in the question box is not
//! interrupted.

use leptos::html;
use leptos::prelude::*;

/// A pending focus hand-off, shared by the model status views. `Copy`.
#[derive(Clone, Copy)]
pub struct FocusHandoff(StoredValue<bool>);

impl FocusHandoff {
    /// No hand-off pending.
    pub fn new() -> Self {
        FocusHandoff(StoredValue::new(false))
    }

    /// Called by a button whose press removes it from the page.
    pub fn give(self) {
        self.0.set_value(true);
    }

    /// Focuses `button` once it is on the page, if a hand-off is pending.
    /// Call once in the component that owns `button`.
    pub fn receive(self, button: NodeRef<html::Button>) {
        Effect::new(move |_| {
            if let Some(el) = button.get() {
                if self.0.get_value() {
                    self.0.set_value(false);
                    // Focus fails only on a detached element: nothing to do.
                    let _ = el.focus();
                }
            }
        });
    }
}

impl Default for FocusHandoff {
    fn default() -> Self {
        Self::new()
    }
}
