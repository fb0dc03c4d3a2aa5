//! A list of the case's items (problems, medications, allergies, reports,
//! notes), each removable, with an optional box to add one.

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

/// The list `items` (one line each) under `label`. Every item has a Remove
/// button that names it; with `on_add`, a text box adds one (Enter or the
/// Add button). Nothing is shown for an empty list without `on_add`.
#[component]
pub fn ItemList(
    /// The fieldset's id (a test hook).
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    #[prop(into)] items: Signal<Vec<String>>,
    on_remove: Callback<usize>,
    #[prop(optional)] on_add: Option<Callback<String>>,
) -> impl IntoView {
    let input = RwSignal::new(String::new());
    let add = move || {
        let text = input.get_untracked();
        if let (Some(on_add), false) = (on_add, text.trim().is_empty()) {
            on_add.run(text.trim().to_string());
            input.set(String::new());
        }
    };
    let visible = move || on_add.is_some() || !items.with(Vec::is_empty);
    view! {
        <Show when=visible>
            <fieldset class="item-list" id=id>
                <legend>{label}</legend>
                <ul>
                    {move || {
                        items
                            .get()
                            .into_iter()
                            .enumerate()
                            .map(|(i, text)| {
                                let aria = format!("Remove {text}");
                                view! {
                                    <li>
                                        <span>{text}</span>
                                        " "
                                        <button type="button" class="remove" aria-label=aria
                                            on:click=move |_| on_remove.run(i)>"×"</button>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
                {on_add.map(|_| view! {
                    <div class="add">
                        <input
                            type="text"
                            aria-label=format!("Add to {label}")
                            placeholder=placeholder
                            prop:value=move || input.get()
                            on:input=move |ev| input.set(event_target_value(&ev))
                            on:keydown=move |ev: KeyboardEvent| {
                                if ev.key() == "Enter" && !ev.ctrl_key() && !ev.meta_key() {
                                    ev.prevent_default();
                                    add();
                                }
                            }
                        />
                        <button type="button" class="secondary" on:click=move |_| add()>"Add"</button>
                    </div>
                })}
            </fieldset>
        </Show>
    }
}
