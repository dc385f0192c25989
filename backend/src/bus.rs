//! [`EventBus`]: how app events travel from their one producer (the gateway task) to every
//! fan-out.
//!
//! An enum rather than a trait object: `Local` is an in-process broadcast (`ROLE=all`); `Stream`
//! (the split roles) queues each event for the Redis Stream writer and hands subscribers what the
//! Stream reader reads back, with the id Redis gave it (see `cluster::stream`). Either way every
//! subscriber sees every event once, in one order.
//!
//! A subscriber that falls more than the channel's capacity behind is told so with
//! [`BusMessage::Lagged`] instead of silently skipping events: it must resynchronise from the
//! roster (see `live::Fanout`).

use model::event::AppEvent;
use tokio::sync::{broadcast, mpsc};

use crate::cluster::stream::{DispatchPosition, Stamped, StreamId};

/// An event on its way to the Stream writer.
#[derive(Debug)]
pub struct Outgoing {
    /// What happened.
    pub event: AppEvent,
    /// The Discord dispatch it came from, when it did.
    pub position: Option<DispatchPosition>,
}

/// Events a subscriber may fall behind by before it must resynchronise.
pub const DEFAULT_CAPACITY: usize = 4096;

/// The event bus; cheap to clone.
#[derive(Debug, Clone)]
pub enum EventBus {
    /// Within one process.
    Local(broadcast::Sender<AppEvent>),
    /// Through the Redis Stream shared by every process of a split deployment.
    Stream {
        /// Events on their way to the Stream writer.
        queue: mpsc::Sender<Outgoing>,
        /// What the Stream reader reads back, to every subscriber of this process.
        events: broadcast::Sender<Stamped>,
    },
}

/// The other ends of a [`EventBus::Stream`]: what the Stream writer appends, and where the Stream
/// reader delivers (see `cluster::stream::EventStream::{run_writer, run_reader}`).
#[derive(Debug)]
pub struct StreamPorts {
    /// Feed to `run_writer`.
    pub queue: mpsc::Receiver<Outgoing>,
    /// Give to `run_reader`.
    pub events: broadcast::Sender<Stamped>,
}

impl EventBus {
    /// An in-process bus that keeps up to `capacity` events for slow subscribers.
    pub fn local(capacity: usize) -> Self {
        Self::Local(broadcast::channel(capacity).0)
    }

    /// A bus on the Redis Stream: up to `capacity` events wait for the writer, and a subscriber
    /// may fall `capacity` events behind the reader.
    pub fn on_stream(capacity: usize) -> (Self, StreamPorts) {
        let (queue, queued) = mpsc::channel(capacity);
        let events = broadcast::channel(capacity).0;
        let bus = Self::Stream {
            queue,
            events: events.clone(),
        };
        (
            bus,
            StreamPorts {
                queue: queued,
                events,
            },
        )
    }

    /// Whether events travel between processes (the split roles).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Stream { .. })
    }

    /// Sends `event` to every current subscriber; with none, the event is dropped (nobody watches).
    pub fn publish(&self, event: AppEvent) {
        self.publish_from(event, None);
    }

    /// [`EventBus::publish`] for an event that came from Discord's dispatch at `position`: on the
    /// Stream, the position is recorded with it, so the next lease holder knows which dispatches
    /// a resumed session replays that are already published (see `cluster::stream`).
    pub fn publish_from(&self, event: AppEvent, position: Option<DispatchPosition>) {
        metrics::counter!(crate::metric_names::APP_EVENTS, "event" => event.name()).increment(1);
        match self {
            Self::Local(sender) => {
                let _ = sender.send(event);
            }
            Self::Stream { queue, .. } => {
                if let Err(err) = queue.try_send(Outgoing { event, position }) {
                    // Never wait here (the gateway task publishes): a writer this far behind means
                    // Redis has been failing for a while; say so loudly rather than stall Discord.
                    let (reason, Outgoing { event, .. }) = match err {
                        mpsc::error::TrySendError::Full(outgoing) => ("queue_full", outgoing),
                        mpsc::error::TrySendError::Closed(outgoing) => ("stopped", outgoing),
                    };
                    tracing::error!(
                        event = event.name(),
                        reason,
                        "an app event could not be queued for the Stream; dropped"
                    );
                    metrics::counter!(crate::metric_names::EVENTS_DROPPED, "reason" => reason).increment(1);
                }
            }
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> BusSubscription {
        match self {
            Self::Local(sender) => BusSubscription::Local(sender.subscribe()),
            Self::Stream { events, .. } => BusSubscription::Stream(events.subscribe()),
        }
    }
}

/// One subscriber's view of the bus.
#[derive(Debug)]
pub enum BusSubscription {
    /// Of a [`EventBus::Local`].
    Local(broadcast::Receiver<AppEvent>),
    /// Of a [`EventBus::Stream`].
    Stream(broadcast::Receiver<Stamped>),
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
        self.recv_stamped().await.0
    }

    /// Waits for the next message, with the event's Stream id when it came through the Stream.
    pub async fn recv_stamped(&mut self) -> (BusMessage, Option<StreamId>) {
        let lost = |err| match err {
            broadcast::error::RecvError::Lagged(missed) => BusMessage::Lagged(missed),
            broadcast::error::RecvError::Closed => BusMessage::Closed,
        };
        match self {
            Self::Local(receiver) => match receiver.recv().await {
                Ok(event) => (BusMessage::Event(event), None),
                Err(err) => (lost(err), None),
            },
            Self::Stream(receiver) => match receiver.recv().await {
                Ok(Stamped { id, event }) => (BusMessage::Event(event), Some(id)),
                Err(err) => (lost(err), None),
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
