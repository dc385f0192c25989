//! [`EventBus`]: how app events travel from their one producer (the gateway task) to every
//! fan-out.
//!
//! An enum rather than a trait object: `Local` is an in-process broadcast; a Redis variant (pub/sub
//! between instances) slots in beside it with the same `publish` / `subscribe`.
//!
//! A subscriber that falls more than the channel's capacity behind is told so with
//! [`BusMessage::Lagged`] instead of silently skipping events: it must resynchronise from the
//! roster (see `live::Fanout`).

use model::event::AppEvent;
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it must resynchronise.
pub const DEFAULT_CAPACITY: usize = 4096;

/// The event bus; cheap to clone.
#[derive(Debug, Clone)]
pub enum EventBus {
    /// Within one process.
    Local(broadcast::Sender<AppEvent>),
}

impl EventBus {
    /// An in-process bus that keeps up to `capacity` events for slow subscribers.
    pub fn local(capacity: usize) -> Self {
        Self::Local(broadcast::channel(capacity).0)
    }

    /// Sends `event` to every current subscriber; with none, the event is dropped (nobody watches).
    pub fn publish(&self, event: AppEvent) {
        metrics::counter!(crate::metric_names::APP_EVENTS, "event" => event.name()).increment(1);
        match self {
            Self::Local(sender) => {
                let _ = sender.send(event);
            }
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> BusSubscription {
        match self {
            Self::Local(sender) => BusSubscription::Local(sender.subscribe()),
        }
    }
}

/// One subscriber's view of the bus.
#[derive(Debug)]
pub enum BusSubscription {
    /// Of a [`EventBus::Local`].
    Local(broadcast::Receiver<AppEvent>),
}

/// What a subscriber receives next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusMessage {
    /// The next event.
    Event(AppEvent),
    /// This many events were lost because the subscriber was too slow; resynchronise.
    Lagged(u64),
    /// The bus is gone (every publisher dropped).
    Closed,
}

impl BusSubscription {
    /// Waits for the next message.
    pub async fn recv(&mut self) -> BusMessage {
        match self {
            Self::Local(receiver) => match receiver.recv().await {
                Ok(event) => BusMessage::Event(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => BusMessage::Lagged(missed),
                Err(broadcast::error::RecvError::Closed) => BusMessage::Closed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use model::event::RoomDeleted;

    use super::*;

    fn deleted(channel: &str) -> AppEvent {
        AppEvent::RoomDeleted(RoomDeleted {
            guild_id: "2".parse().unwrap(),
            channel_id: channel.parse().unwrap(),
        })
    }

    #[tokio::test]
    async fn subscribers_receive_events_in_order() {
        let bus = EventBus::local(8);
        let mut subscription = bus.subscribe();
        bus.publish(deleted("3"));
        bus.publish(deleted("4"));
        assert_eq!(subscription.recv().await, BusMessage::Event(deleted("3")));
        assert_eq!(subscription.recv().await, BusMessage::Event(deleted("4")));
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_instead_of_skipping_silently() {
        let bus = EventBus::local(2);
        let mut subscription = bus.subscribe();
        for channel in ["3", "4", "5"] {
            bus.publish(deleted(channel));
        }
        assert_eq!(subscription.recv().await, BusMessage::Lagged(1));
        assert_eq!(subscription.recv().await, BusMessage::Event(deleted("4")));
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_fine_and_closing_is_reported() {
        let bus = EventBus::local(2);
        bus.publish(deleted("3"));
        let mut subscription = bus.subscribe();
        drop(bus);
        assert_eq!(subscription.recv().await, BusMessage::Closed);
    }
}
