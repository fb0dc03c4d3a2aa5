//! The case's vital signs and results over time: one row a measurement,
//! every value with its date, flags for what is out of range or not to be
//! trusted, and a small chart of the numeric values against the reference
//! range. Values can be removed one by one and added by hand.

use std::collections::BTreeSet;

use leptos::prelude::*;
use locum_clinical::{
    Observation, ObservationKind, ObservationValue, ReferenceRange, Timestamp, WarningTarget,
};

use crate::state::case::{format_number, today};
use crate::state::use_assistant;

/// One measurement's values, oldest first, as indices into the case's
/// observations.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub kind: ObservationKind,
    pub members: Vec<usize>,
}

/// Groups `obs` by name (ignoring case), vital signs first, each series
/// sorted by date; series keep the order their name first appears in.
pub fn series(obs: &[Observation]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for (i, o) in obs.iter().enumerate() {
        let key = o.name.trim().to_lowercase();
        match out.iter_mut().find(|s| s.name.to_lowercase() == key) {
            Some(s) => s.members.push(i),
            None => out.push(Series {
                name: o.name.trim().to_string(),
                kind: o.kind,
                members: vec![i],
            }),
        }
    }
    for s in &mut out {
        s.members.sort_by(|&a, &b| obs[a].date.cmp(&obs[b].date));
    }
    out.sort_by_key(|s| s.kind != ObservationKind::Vital);
    out
}

/// "H" above the range, "L" below it, nothing within it or without one.
pub fn range_flag(
    value: &ObservationValue,
    range: Option<&ReferenceRange>,
) -> Option<&'static str> {
    let (ObservationValue::Number(v), Some(r)) = (value, range) else {
        return None;
    };
    if r.high.is_some_and(|h| *v > h) {
        Some("H")
    } else if r.low.is_some_and(|l| *v < l) {
        Some("L")
    } else {
        None
    }
}

/// The points of a sparkline `width`×`height` for `values` (evenly spaced,
/// oldest at the left), and the reference band's top and bottom in the same
/// scale. `None` with fewer than two values.
pub fn sparkline(
    values: &[f64],
    range: Option<&ReferenceRange>,
    width: f64,
    height: f64,
) -> Option<(String, Option<(f64, f64)>)> {
    if values.len() < 2 {
        return None;
    }
    let mut lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(r) = range {
        for b in [r.low, r.high].into_iter().flatten() {
            lo = lo.min(b);
            hi = hi.max(b);
        }
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let pad = 2.0;
    let y = |v: f64| pad + (hi - v) / (hi - lo) * (height - 2.0 * pad);
    let step = (width - 2.0 * pad) / (values.len() - 1) as f64;
    let points = values
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{:.1},{:.1}", pad + i as f64 * step, y(v)))
        .collect::<Vec<_>>()
        .join(" ");
    let band = range.and_then(|r| match (r.low, r.high) {
        (None, None) => None,
        (l, h) => Some((y(h.unwrap_or(hi)), y(l.unwrap_or(lo)))),
    });
    Some((points, band))
}

/// The anchor of a series' row, for quoted findings to point at.
pub fn row_id(name: &str) -> String {
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("result-{slug}")
}

/// The results timeline and a small form to add a result.
///
/// Test hooks: `#timeline`, a `tr.series` per measurement (`data-result`
/// its name), `svg.sparkline` for charts, `.flag` for flagged values.
#[component]
pub fn Timeline() -> impl IntoView {
    let draft = use_assistant().case.draft;
    let flagged = Memo::new(move |_| {
        let case = draft.to_case();
        case.validate(today())
            .into_iter()
            .filter_map(|w| match w.target {
                WarningTarget::Observation(i) => Some((i, w.kind.flag())),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    let rows = move || {
        let obs = draft.observations.get();
        let flags = flagged.get();
        series(&obs)
            .into_iter()
            .map(|s| series_row(&obs, &s, &flags, draft.observations))
            .collect_view()
    };
    view! {
        <fieldset class="timeline" id="timeline">
            <legend>"Vital signs and results over time"</legend>
            <Show when=move || !draft.observations.with(Vec::is_empty)>
                <table>
                    <thead>
                        <tr><th scope="col">"Measurement"</th><th scope="col">"Values, oldest first"</th><th scope="col">"Trend"</th></tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
            <AddResult />
        </fieldset>
    }
}

fn series_row(
    obs: &[Observation],
    s: &Series,
    flags: &[(usize, &'static str)],
    list: RwSignal<Vec<Observation>>,
) -> impl IntoView {
    let last = &obs[*s.members.last().unwrap_or(&0)];
    let unit = last.unit.clone().unwrap_or_default();
    let range = last.reference_range.clone();
    let untrusted: BTreeSet<usize> = flags.iter().map(|(i, _)| *i).collect();
    // Values flagged as implausible or misdated stay out of the chart.
    let numbers: Vec<f64> = s
        .members
        .iter()
        .filter(|i| !untrusted.contains(i))
        .filter_map(|&i| match obs[i].value {
            ObservationValue::Number(v) => Some(v),
            _ => None,
        })
        .collect();
    let chart = sparkline(&numbers, range.as_ref(), 120.0, 32.0).map(|(points, band)| {
        let (first, last_v) = (numbers[0], numbers[numbers.len() - 1]);
        let label = format!(
            "{}: {} values from {} to {} {unit}{}",
            s.name,
            numbers.len(),
            format_number(first),
            format_number(last_v),
            range.as_ref().map(|r| format!(", reference {r}")).unwrap_or_default()
        );
        view! {
            <svg class="sparkline" viewBox="0 0 120 32" width="120" height="32" role="img" aria-label=label>
                {band.map(|(top, bottom)| view! {
                    <rect class="band" x="0" y=format!("{top:.1}") width="120" height=format!("{:.1}", (bottom - top).max(0.5)) />
                })}
                <polyline class="line" points=points.clone() fill="none" />
                {points.split(' ').map(|p| {
                    let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                    view! { <circle cx=x.to_string() cy=y.to_string() r="1.8" /> }
                }).collect_view()}
            </svg>
        }
    });
    let values = s
        .members
        .iter()
        .map(|&i| {
            let o = &obs[i];
            let flag = flags
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, f)| f.to_string())
                .or_else(|| range_flag(&o.value, o.reference_range.as_ref()).map(str::to_string));
            let text = format!(
                "{} {}",
                match &o.value {
                    ObservationValue::Number(n) => format_number(*n),
                    ObservationValue::Text(t) => t.clone(),
                },
                o.unit.clone().unwrap_or_default()
            );
            let aria = format!("Remove {} {} on {}", o.name, text.trim(), o.date);
            view! {
                <li>
                    <time datetime=o.date.to_string()>{o.date.to_string()}</time>
                    " "
                    <span class="value">{text.trim().to_string()}</span>
                    {flag.map(|f| view! { " " <span class="flag">{f}</span> })}
                    " "
                    <button type="button" class="remove" aria-label=aria
                        on:click=move |_| list.update(|l| { if i < l.len() { l.remove(i); } })>"×"</button>
                </li>
            }
        })
        .collect_view();
    view! {
        <tr class="series" id=row_id(&s.name) data-result=s.name.clone() tabindex="-1">
            <th scope="row">
                {s.name.clone()}
                <span class="kind">{if s.kind == ObservationKind::Vital { " (vital sign)" } else { "" }}</span>
            </th>
            <td><ul class="values">{values}</ul></td>
            <td>{chart}</td>
        </tr>
    }
}

/// Name, value, unit, date and kind of a result typed by hand.
#[component]
fn AddResult() -> impl IntoView {
    let draft = use_assistant().case.draft;
    let name = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let unit = RwSignal::new(String::new());
    let date = RwSignal::new(today().to_string());
    let kind = RwSignal::new("lab".to_string());
    let problem = RwSignal::new(None::<String>);
    let add = move |_| {
        let n = name.get_untracked().trim().to_string();
        let v = value.get_untracked().trim().to_string();
        if n.is_empty() || v.is_empty() {
            problem.set(Some("A result needs a name and a value.".into()));
            return;
        }
        let when = match Timestamp::parse(&date.get_untracked()) {
            Ok(t) => t,
            Err(e) => {
                problem.set(Some(e.to_string()));
                return;
            }
        };
        let u = unit.get_untracked().trim().to_string();
        draft.observations.update(|l| {
            l.push(Observation {
                name: n,
                value: v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(ObservationValue::Number)
                    .unwrap_or(ObservationValue::Text(v)),
                unit: (!u.is_empty()).then_some(u),
                date: when,
                reference_range: None,
                kind: if kind.get_untracked() == "vital" {
                    ObservationKind::Vital
                } else {
                    ObservationKind::Lab
                },
            })
        });
        problem.set(None);
        name.set(String::new());
        value.set(String::new());
        unit.set(String::new());
    };
    let field = |label: &'static str, id: &'static str, s: RwSignal<String>, size: &'static str| {
        view! {
            <label>
                {label}
                <input id=id type="text" size=size prop:value=move || s.get()
                    on:input=move |ev| s.set(event_target_value(&ev)) />
            </label>
        }
    };
    view! {
        <div class="add-result" role="group" aria-label="Add a result">
            {field("Result", "result-name", name, "14")}
            {field("Value", "result-value", value, "6")}
            {field("Unit", "result-unit", unit, "6")}
            <label>
                "Date"
                <input id="result-date" type="text" size="16" placeholder="YYYY-MM-DD or YYYY-MM-DDThh:mm"
                    prop:value=move || date.get() on:input=move |ev| date.set(event_target_value(&ev)) />
            </label>
            <label>
                "Kind"
                <select id="result-kind" prop:value=move || kind.get() on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="lab">"Laboratory"</option>
                    <option value="vital">"Vital sign"</option>
                </select>
            </label>
            <button type="button" id="result-add" class="secondary" on:click=add>"Add result"</button>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(name: &str, value: f64, date: &str, kind: ObservationKind) -> Observation {
        Observation {
            name: name.into(),
            value: ObservationValue::Number(value),
            unit: None,
            date: Timestamp::parse(date).unwrap(),
            reference_range: None,
            kind,
        }
    }

    #[test]
    fn series_group_by_name_vitals_first_oldest_first() {
        let lab = ObservationKind::Lab;
        let list = vec![
            obs("Creatinine", 265.0, "2026-03-06", lab),
            obs("creatinine", 88.0, "2025-11-12", lab),
            obs(
                "Heart rate",
                94.0,
                "2026-03-06T10:40",
                ObservationKind::Vital,
            ),
            obs("Potassium", 6.1, "2026-03-06", lab),
        ];
        let got = series(&list);
        let names: Vec<_> = got
            .iter()
            .map(|s| (s.name.as_str(), s.members.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("Heart rate", vec![2]),
                ("Creatinine", vec![1, 0]),
                ("Potassium", vec![3])
            ]
        );
    }

    #[test]
    fn range_flags() {
        let r = ReferenceRange {
            low: Some(45.0),
            high: Some(90.0),
            text: None,
        };
        let n = ObservationValue::Number;
        assert_eq!(range_flag(&n(265.0), Some(&r)), Some("H"));
        assert_eq!(range_flag(&n(40.0), Some(&r)), Some("L"));
        assert_eq!(range_flag(&n(60.0), Some(&r)), None);
        assert_eq!(range_flag(&n(60.0), None), None);
        assert_eq!(
            range_flag(&ObservationValue::Text("2+".into()), Some(&r)),
            None
        );
    }

    #[test]
    fn sparkline_scales_values_and_band_into_the_box() {
        let r = ReferenceRange {
            low: Some(45.0),
            high: Some(90.0),
            text: None,
        };
        let (points, band) = sparkline(&[88.0, 140.0, 265.0], Some(&r), 120.0, 32.0).unwrap();
        assert_eq!(points, "2.0,24.5 60.0,17.9 118.0,2.0");
        let (top, bottom) = band.unwrap();
        assert!(
            (bottom - 30.0).abs() < 1e-9 && top > 2.0 && top < bottom,
            "{top} {bottom}"
        );
        assert!(sparkline(&[1.0], None, 120.0, 32.0).is_none());
        // A flat line is drawn, not divided by zero.
        let (flat, _) = sparkline(&[5.0, 5.0], None, 120.0, 32.0).unwrap();
        assert!(!flat.contains("NaN"), "{flat}");
        assert_eq!(row_id("Heart rate (apical)"), "result-heart-rate--apical-");
    }
}
