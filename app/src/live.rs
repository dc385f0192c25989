//! Browser side of the live table: an `EventSource` on `/api/stream`, feeding [`RosterView`] (who
//! sits where) and [`TableView`] (their life totals).
//!
//! The browser's `EventSource` reconnects by itself after a dropped connection and sends
//! `Last-Event-ID`, so the server replays what was missed. When the browser gives up (the server
//! answered with an error status, or closed the room), this module first asks the server why (the
//! room's status, and the viewer's access to it): a stream that can never be allowed again (signed
//! out, no longer a player, room closed) stops and says so; anything else (an outage, a rate limit,
//! a restart) is retried with a new `EventSource` after a capped backoff, which the server starts
//! with a fresh snapshot.

use std::{cell::RefCell, rc::Rc, time::Duration};

use leptos::prelude::*;
use model::{ids::ChannelId, room::RoomStatus};
use send_wrapper::SendWrapper;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{EventSource, MessageEvent};

use crate::{
    roster_view::{Applied, RosterView, StreamStatus},
    server_fns::rooms::{load_room, load_room_status},
    table_view::{COMMANDERS_NAMED_EVENT, LIFE_CHANGED_EVENT, TABLE_RESET_EVENT, TableView},
};

/// The SSE events the member list listens to.
const EVENTS: [&str; 13] = [
    "snapshot",
    "seats",
    "voice.joined",
    "voice.left",
    "room.deleted",
    "discord.status",
    "seat.taken",
    "seat.freed",
    "seat.dropped",
    model::table::TABLE_EVENT,
    LIFE_CHANGED_EVENT,
    COMMANDERS_NAMED_EVENT,
    TABLE_RESET_EVENT,
];
/// The events that change the life totals rather than the seats.
const TABLE_EVENTS: [&str; 4] = [
    model::table::TABLE_EVENT,
    LIFE_CHANGED_EVENT,
    COMMANDERS_NAMED_EVENT,
    TABLE_RESET_EVENT,
];
/// The longest wait before reopening a stream the browser gave up on.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One open `EventSource` and the callbacks it calls (dropping them would leave it calling freed
/// closures, so they live exactly as long as it does).
struct Connection {
    source: EventSource,
    _callbacks: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// The browser-side owner of a room's stream: at most one connection at a time.
#[derive(Clone)]
struct Stream {
    room: ChannelId,
    view: RwSignal<RosterView>,
    table: RwSignal<TableView>,
    status: RwSignal<StreamStatus>,
    connection: Rc<RefCell<Option<Connection>>>,
    failures: Rc<RefCell<u32>>,
    stopped: Rc<RefCell<bool>>,
}

/// Opens the room's stream; it closes when the calling component is cleaned up.
pub(crate) fn connect(
    room: ChannelId,
    view: RwSignal<RosterView>,
    table: RwSignal<TableView>,
    status: RwSignal<StreamStatus>,
) {
    let stream = Stream {
        room,
        view,
        table,
        status,
        connection: Rc::default(),
        failures: Rc::default(),
        stopped: Rc::default(),
    };
    stream.open();
    let handle = SendWrapper::new(stream);
    on_cleanup(move || {
        *handle.stopped.borrow_mut() = true;
        handle.connection.borrow_mut().take();
    });
}

impl Stream {
    fn open(&self) {
        if *self.stopped.borrow() {
            return;
        }
        let source = match EventSource::new(&format!("/api/stream?room={}", self.room)) {
            Ok(source) => source,
            Err(err) => {
                leptos::logging::error!("cannot open the live stream: {err:?}");
                self.retry_later();
                return;
            }
        };
        let mut callbacks = Vec::new();
        for name in EVENTS {
            let stream = self.clone();
            let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                if let Some(message) = event.dyn_ref::<MessageEvent>() {
                    stream.on_message(name, message);
                }
            });
            if let Err(err) = source.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
            {
                leptos::logging::error!("cannot listen for {name}: {err:?}");
            }
            callbacks.push(callback);
        }
        let stream = self.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| stream.on_error());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        callbacks.push(on_error);
        // A browser reconnect with nothing to replay sends no message, so "open" is what says the
        // stream is live again.
        let stream = self.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            *stream.failures.borrow_mut() = 0;
            if !stream.status.get_untracked().is_final() {
                stream.status.set(StreamStatus::Live);
            }
        });
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        callbacks.push(on_open);
        *self.connection.borrow_mut() = Some(Connection {
            source,
            _callbacks: callbacks,
        });
    }

    fn on_message(&self, name: &str, message: &MessageEvent) {
        let Some(data) = message.data().as_string() else {
            return;
        };
        *self.failures.borrow_mut() = 0;
        let mut outcome = Ok(Applied::Updated);
        if TABLE_EVENTS.contains(&name) {
            self.table
                .update(|table| outcome = table.apply(self.room, name, &data).map(|()| Applied::Updated));
        } else {
            self.view
                .update(|view| outcome = view.apply_at(self.room, name, &data, crate::countdown::now_ms()));
        }
        match outcome {
            Ok(Applied::Updated) => self.status.set(StreamStatus::Live),
            Ok(Applied::RoomClosed) => {
                self.status.set(StreamStatus::RoomClosed);
                *self.stopped.borrow_mut() = true;
                self.connection.borrow_mut().take();
            }
            Err(err) => leptos::logging::error!("ignored a stream message: {err}"),
        }
    }

    fn on_error(&self) {
        let closed = self
            .connection
            .borrow()
            .as_ref()
            .is_some_and(|connection| connection.source.ready_state() == EventSource::CLOSED);
        if *self.stopped.borrow() {
            return;
        }
        self.status.set(StreamStatus::Reconnecting);
        if closed {
            // The browser gave up; it only retries by itself while the state is CONNECTING.
            self.connection.borrow_mut().take();
            let stream = self.clone();
            leptos::task::spawn_local(async move { stream.after_refusal().await });
        }
    }

    /// Asks the server why the stream was refused before trying again, so a stream that will never
    /// be allowed (a signed-out viewer, a removed player, a closed room) is not retried forever.
    async fn after_refusal(&self) {
        let status = load_room_status(self.room).await;
        let access = if matches!(status, Ok(RoomStatus::Open)) {
            Some(load_room(self.room).await.map(drop))
        } else {
            None
        };
        if *self.stopped.borrow() {
            return;
        }
        match StreamStatus::after_refusal(&status, access.as_ref()) {
            Some(fin) => {
                *self.stopped.borrow_mut() = true;
                if fin == StreamStatus::RoomClosed {
                    self.view.update(RosterView::mark_closed);
                }
                self.status.set(fin);
            }
            None => self.retry_later(),
        }
    }

    fn retry_later(&self) {
        let failures = {
            let mut failures = self.failures.borrow_mut();
            *failures = failures.saturating_add(1);
            *failures
        };
        let delay = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6))).min(MAX_BACKOFF);
        let stream = SendWrapper::new(self.clone());
        set_timeout(move || stream.open(), delay);
    }
}
