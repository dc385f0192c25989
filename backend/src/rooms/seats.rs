//! The drop clock: when a seated player leaves their room's voice channel, the time is stored (so
//! a reload or a restart still shows the true "dropped m:ss ago") and published as `seat.dropped`;
//! when they are back in the channel it is cleared. The seat itself is held either way.
//!
//! It follows the bus, like every consumer of voice events, rather than living in the gateway
//! task: the gateway stays a pure translator, and the fan-out (`Live`) stays free of I/O.

use model::event::{AppEvent, SeatDropped};
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{BusMessage, BusSubscription, EventBus},
    store::{Store, StoreError, unix_millis},
};

/// Records seated players' drops from the bus. Owner of nothing in memory: the times live in the
/// store (`memberships.dropped_at`).
#[derive(Debug)]
pub struct DropClock {
    store: Store,
    bus: EventBus,
    /// Subscribed at construction, so nothing published after it is missed.
    events: BusSubscription,
}

impl DropClock {
    /// A clock that reads voice events from `bus`, stores drops in `store` and publishes them on
    /// `bus`.
    pub fn new(store: Store, bus: EventBus) -> Self {
        Self {
            store,
            events: bus.subscribe(),
            bus,
        }
    }

    /// Applies one event at `now_ms` (unix milliseconds): a seated player's `voice.left` from their
    /// room stores the drop and publishes `seat.dropped`; their `voice.joined` into it clears it.
    /// Other events (and other people's voice events) change nothing. Returns what it published.
    pub async fn observe(&self, event: &AppEvent, now_ms: i64) -> Result<Option<AppEvent>, StoreError> {
        match event {
            AppEvent::VoiceLeft(left) => {
                let seated = self
                    .store
                    .mark_dropped(left.left_channel_id, left.user_id, now_ms)
                    .await?;
                if seated {
                    let dropped = AppEvent::SeatDropped(SeatDropped {
                        channel_id: left.left_channel_id,
                        user_id: left.user_id,
                        dropped_at_ms: now_ms,
                    });
                    self.bus.publish(dropped.clone());
                    return Ok(Some(dropped));
                }
            }
            AppEvent::VoiceJoined(joined) => {
                self.store
                    .clear_dropped(joined.channel_id, joined.user_id)
                    .await?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// Follows the bus until shutdown or until it closes.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return,
                message = self.events.recv() => message,
            };
            match message {
                BusMessage::Event(event) => {
                    if let Err(err) = self.observe(&event, unix_millis()).await {
                        tracing::warn!(error = ?err, "cannot record a seated player's drop");
                    }
                }
                BusMessage::Lagged(missed) => {
                    // A lost `voice.left` leaves a seat without its drop time: the page then says
                    // "not in voice" without a timer, which is still true.
                    tracing::warn!(missed, "the drop clock fell behind the event bus");
                }
                BusMessage::Closed => return,
            }
        }
    }
}
