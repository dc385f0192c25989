//! The pod's life totals on the table: each seat's life, poison and commander damage with buttons
//! big enough to tap, the table's recent history with the viewer's undo, and the owner's "New
//! game".
//!
//! Every tap is one `change_life` call; its answer is applied at once (the stream brings the same
//! message a moment later, and [`TableView`] keeps whichever is newer). A button that would break a
//! rule is disabled, using the same rules the server checks.

use leptos::{prelude::*, task::spawn_local};
use model::{
    error::AppError,
    ids::{ChannelId, UserId},
    stream::Seat,
    table::{Counter, STARTING_LIFE_CHOICES},
};

use crate::{
    roster_view::RosterView,
    server_fns::table::{change_life, name_commanders, reset_table, undo_life_change},
    table_view::{CommanderRow, TableView, signed, signed_or_plain},
};

/// How long an error from a server function stays on the table.
const PROBLEM_SHOWN: std::time::Duration = std::time::Duration::from_secs(4);
/// How many history lines the table shows.
const HISTORY_SHOWN: usize = 6;

/// Everything the counters of one room share: the room, both views, who is looking, the server's
/// clock, and the line where a failed call says why.
#[derive(Clone, Copy)]
pub struct LifeTable {
    /// The room's voice channel.
    pub room: ChannelId,
    /// The life totals.
    pub table: RwSignal<TableView>,
    /// The seats (for names, and who may do what).
    pub roster: RwSignal<RosterView>,
    /// The signed-in user.
    pub me: Signal<Option<UserId>>,
    /// The server's clock, ticking every second (undo expires by it).
    pub server_now: Signal<i64>,
    /// The last failure, shown briefly.
    pub problem: RwSignal<Option<String>>,
    /// Whether the table still follows the server: not once the room closed or the viewer may no
    /// longer watch it (signed out, removed), when nothing here would be allowed.
    pub following: Signal<bool>,
}

impl LifeTable {
    fn seats(self) -> Vec<Seat> {
        self.roster
            .with(|roster| roster.seats().map(<[Seat]>::to_vec).unwrap_or_default())
    }

    fn my_seat(self) -> Option<Seat> {
        let me = self.me.get()?;
        self.seats().into_iter().find(|seat| seat.user_id == me)
    }

    /// `user`'s name as the table knows it (empty once they have no seat), for buttons' names.
    fn name(self, user: UserId) -> String {
        self.roster.with(|roster| {
            roster
                .seats()
                .and_then(|seats| seats.iter().find(|seat| seat.user_id == user))
                .map(|seat| seat.username.clone())
                .unwrap_or_default()
        })
    }

    /// Whether the viewer sits at the table (only players change numbers).
    fn seated(self) -> bool {
        self.following.get() && self.my_seat().is_some()
    }

    /// Whether the viewer owns the room.
    fn owner(self) -> bool {
        self.my_seat().is_some_and(|seat| seat.owner)
    }

    /// Whether the viewer may change `target`'s `counter` by `delta` now.
    fn can(self, target: UserId, counter: Counter, delta: i32) -> bool {
        self.seated() && self.table.with(|table| table.allows(target, counter, delta))
    }

    /// One tap: changes `target`'s `counter` by `delta`.
    pub fn change(self, target: UserId, counter: Counter, delta: i32) {
        // Called from event handlers: a read, not a subscription.
        if !untrack(|| self.can(target, counter, delta)) {
            return;
        }
        spawn_local(async move {
            match change_life(self.room, target, counter, delta).await {
                Ok(changed) => self.table.update(|table| table.apply_changed(changed)),
                Err(err) => self.fail(&err),
            }
        });
    }

    fn undo(self, seq: i64) {
        spawn_local(async move {
            match undo_life_change(self.room, seq).await {
                Ok(changed) => self.table.update(|table| table.apply_changed(changed)),
                Err(err) => self.fail(&err),
            }
        });
    }

    /// Says what went wrong for a few seconds.
    fn fail(self, err: &AppError) {
        let text = match err {
            AppError::RateLimited { .. } => "Slow down: too many changes at once.".to_owned(),
            other => format!("That did not work: {other}."),
        };
        self.problem.set(Some(text.clone()));
        let problem = self.problem;
        set_timeout(
            move || {
                if problem.get_untracked().as_deref() == Some(text.as_str()) {
                    problem.set(None);
                }
            },
            PROBLEM_SHOWN,
        );
    }
}

/// One seat's numbers and buttons (`user`'s), once the table's state has arrived.
#[component]
pub fn LifeCounters(life: LifeTable, user: UserId) -> impl IntoView {
    let table = life.table;
    let totals = move || table.with(|table| table.totals(user));
    let number = move |read: fn(&model::table::PlayerTotals) -> i32| {
        move || totals().map(|totals| read(&totals)).unwrap_or_default()
    };
    let life_total = number(|totals| totals.life);
    let poison = number(|totals| totals.poison);
    let rows = move || table.with(|table| table.commander_rows(user, &life.seats()));
    let lethal = move || table.with(|table| table.lethal_text(user, &life.seats()));
    let may_name = move || life.me.get() == Some(user) || life.owner();

    view! {
        <Show when=move || table.with(TableView::is_known)>
            <div class="life" data-life=move || life_total().to_string() data-poison=move || poison().to_string()>
                <div class="life__main">
                    <Tap life user counter=Counter::Life delta={-5} />
                    <Tap life user counter=Counter::Life delta={-1} />
                    <output class="life__total" aria-label=move || format!("{}: life", life.name(user))>
                        {move || signed_or_plain(life_total())}
                    </output>
                    <Tap life user counter=Counter::Life delta=1 />
                    <Tap life user counter=Counter::Life delta=5 />
                </div>
                <div class="life__row life__row--poison">
                    <Tap life user counter=Counter::Poison delta={-1} />
                    <span class="life__value">{poison}</span>
                    <span class="life__label">"poison"</span>
                    <Tap life user counter=Counter::Poison delta=1 />
                </div>
                <For
                    each=rows
                    key=|row| (row.counter, row.label.clone())
                    children=move |row: CommanderRow| {
                        let counter = row.counter;
                        let source = row.label.clone();
                        let damage = move || {
                            table.with(|table| {
                                match (table.totals(user), counter) {
                                    (Some(totals), Counter::CommanderDamage { from, commander }) => {
                                        totals.damage_from(from, commander)
                                    }
                                    _ => 0,
                                }
                            })
                        };
                        view! {
                            <div class="life__row life__row--commander" data-damage-from=counter.to_string()>
                                <Tap life user counter delta={-1} source=source.clone() />
                                <span class="life__value">{damage}</span>
                                <span class="life__label">
                                    "from "
                                    <bdi class="life__commander">{row.label}</bdi>
                                </span>
                                <Tap life user counter delta=1 source />
                            </div>
                        }
                    }
                />
                {move || lethal().map(|text| view! { <p class="life__lethal" role="status">{text}</p> })}
                <Show when=may_name>
                    <CommanderForm life user />
                </Show>
            </div>
        </Show>
    }
    // Erased: the game room's view type is otherwise deeper than rustc's query depth allows.
    .into_any()
}

/// One −/+ button: `delta` on `user`'s `counter`, disabled when the change would break a rule.
/// Its name says whose counter and which ("Alice: life −1"; for commander damage, the `source`
/// commander's row label too): the seats repeat the same buttons four times over.
#[component]
fn Tap(
    life: LifeTable,
    user: UserId,
    counter: Counter,
    delta: i32,
    #[prop(optional)] source: Option<String>,
) -> impl IntoView {
    let what = match (counter, source) {
        (Counter::Life, _) => "life".to_owned(),
        (Counter::Poison, _) => "poison".to_owned(),
        (Counter::CommanderDamage { .. }, Some(source)) => format!("commander damage from {source}"),
        (Counter::CommanderDamage { .. }, None) => "commander damage".to_owned(),
    };
    view! {
        <button
            class="life__tap"
            type="button"
            data-counter=counter.to_string()
            data-delta=delta.to_string()
            aria-label=move || format!("{}: {what} {}", life.name(user), signed(delta))
            disabled=move || !life.can(user, counter, delta)
            on:click=move |_| life.change(user, counter, delta)
        >
            {signed(delta)}
        </button>
    }
}

/// Naming `user`'s commanders (a partner too): a fold-out form on one's own seat, or on any seat
/// for the owner.
#[component]
fn CommanderForm(life: LifeTable, user: UserId) -> impl IntoView {
    let open = RwSignal::new(false);
    let first = RwSignal::new(String::new());
    let partner = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let toggle = move |_| {
        // Opening starts from the names as they are now.
        if !open.get_untracked() {
            let names = life
                .table
                .with_untracked(|table| table.totals(user).map(|totals| totals.commanders))
                .unwrap_or_default();
            first.set(names.first().cloned().unwrap_or_default());
            partner.set(names.get(1).cloned().unwrap_or_default());
        }
        open.update(|open| *open = !*open);
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        pending.set(true);
        let (first, partner) = (first.get_untracked(), partner.get_untracked());
        spawn_local(async move {
            match name_commanders(life.room, user, first, partner).await {
                Ok(totals) => {
                    life.table.update(|table| table.apply_totals(totals));
                    open.set(false);
                }
                Err(err) => life.fail(&err),
            }
            pending.set(false);
        });
    };
    let input_id = move |which: &str| format!("commander-{which}-{user}");
    view! {
        <div class="commanders">
            <button class="commanders__toggle" type="button" aria-expanded=move || open.get().to_string() on:click=toggle>
                "Commanders"
            </button>
            <Show when=move || open.get()>
                <form class="commanders__form" on:submit=submit>
                    <label for=input_id("first")>"Commander"</label>
                    <input
                        id=input_id("first")
                        class="commanders__first"
                        type="text"
                        maxlength="60"
                        placeholder="Atraxa"
                        prop:value=move || first.get()
                        on:input=move |event| first.set(event_target_value(&event))
                    />
                    <label for=input_id("partner")>"Partner"</label>
                    <input
                        id=input_id("partner")
                        class="commanders__partner"
                        type="text"
                        maxlength="60"
                        placeholder="none"
                        prop:value=move || partner.get()
                        on:input=move |event| partner.set(event_target_value(&event))
                    />
                    <button class="button commanders__save" type="submit" disabled=move || pending.get()>
                        {move || if pending.get() { "Saving…" } else { "Save" }}
                    </button>
                </form>
            </Show>
        </div>
    }
}

/// Under the seats: the last failure, the recent history (newest first) with the viewer's undo,
/// and the owner's "New game".
#[component]
pub fn TableFooter(life: LifeTable) -> impl IntoView {
    let table = life.table;
    let entries = move || {
        let seats = life.seats();
        table.with(|table| {
            let mut entries = table.history(&seats);
            entries.truncate(HISTORY_SHOWN);
            entries
        })
    };
    let undoable = move || {
        let me = life.me.get()?;
        table.with(|table| table.undoable(me, life.server_now.get()))
    };
    view! {
        {move || {
            life.problem.get().map(|text| view! { <p class="form-error table__error" role="alert">{text}</p> })
        }}
        <Show when=move || table.with(TableView::is_known)>
            <div class="table__footer">
                <ol class="table__history" aria-label="Recent changes">
                    <For
                        each=entries
                        key=|entry| (entry.seq, entry.text.clone(), entry.undone)
                        children=move |entry| {
                            let seq = entry.seq;
                            view! {
                                <li
                                    class=if entry.undone { "history__entry history__entry--undone" } else { "history__entry" }
                                    data-seq=seq.to_string()
                                    data-undone=entry.undone.to_string()
                                >
                                    <span class="history__text">{entry.text}</span>
                                    {entry.undone.then(|| view! { <span class="history__undone">" (undone)"</span> })}
                                    <Show when=move || undoable() == Some(seq)>
                                        <button class="history__undo" type="button" on:click=move |_| life.undo(seq)>
                                            "Undo"
                                        </button>
                                    </Show>
                                </li>
                            }
                        }
                    />
                </ol>
                <Show when=move || life.owner()>
                    <NewGame life />
                </Show>
            </div>
        </Show>
    }
    .into_any()
}

/// The owner's "New game": asks first, with the starting life to use, then resets everyone.
#[component]
fn NewGame(life: LifeTable) -> impl IntoView {
    let asking = RwSignal::new(false);
    let starting = RwSignal::new(
        life.table
            .with_untracked(TableView::starting_life)
            .unwrap_or(STARTING_LIFE_CHOICES[0]),
    );
    let pending = RwSignal::new(false);
    let start = move |_| {
        pending.set(true);
        let starting_life = starting.get_untracked();
        spawn_local(async move {
            match reset_table(life.room, starting_life).await {
                Ok(state) => {
                    life.table.update(|table| table.apply_state(state));
                    asking.set(false);
                }
                Err(err) => life.fail(&err),
            }
            pending.set(false);
        });
    };
    view! {
        <Show
            when=move || asking.get()
            fallback=move || {
                view! {
                    <button
                        class="button button--secondary table__new-game"
                        type="button"
                        on:click=move |_| asking.set(true)
                    >
                        "New game"
                    </button>
                }
            }
        >
            <div class="new-game" role="group" aria-labelledby="new-game-question">
                <p id="new-game-question" class="new-game__question">
                    "Start a new game? Everyone's poison and commander damage go back to 0."
                </p>
                <label class="new-game__label">
                    "Starting life "
                    <select
                        class="new-game__life"
                        on:change=move |event| {
                            if let Ok(life) = event_target_value(&event).parse() {
                                starting.set(life);
                            }
                        }
                    >
                        {STARTING_LIFE_CHOICES
                            .iter()
                            .map(|choice| {
                                let choice = *choice;
                                view! {
                                    <option value=choice.to_string() selected=move || starting.get() == choice>
                                        {choice.to_string()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <button class="button new-game__confirm" type="button" disabled=move || pending.get() on:click=start>
                    {move || if pending.get() { "Starting…" } else { "Start new game" }}
                </button>
                <button class="button button--secondary new-game__cancel" type="button" on:click=move |_| asking.set(false)>
                    "Cancel"
                </button>
            </div>
        </Show>
    }
}
