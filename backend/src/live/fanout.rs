//! The fan-out task: the only writer of [`Live`], fed by the bus, rebuilt from the roster's owner
//! when it falls behind.

use std::collections::HashMap;

use model::{
    event::{AppEvent, DiscordStatus, RosterStatus, VoiceJoined, VoiceLeft},
    ids::{ChannelId, UserId},
    stream::RoomMember,
};
use tokio_util::sync::CancellationToken;

use super::Live;
use crate::{
    bus::{BusMessage, BusSubscription},
    cluster::stream::StreamId,
    roster::{RosterSnapshot, RosterSource, VoiceMember},
};

/// Feeds `live` from the bus until shutdown or until the bus closes. This task is `Live`'s only
/// writer. When it falls behind the bus it rebuilds from `source`, the roster's owner.
pub async fn run_fanout(
    mut subscription: BusSubscription,
    live: Live,
    source: Option<RosterSource>,
    shutdown: CancellationToken,
) {
    loop {
        let (message, id) = tokio::select! {
            () = shutdown.cancelled() => return,
            message = subscription.recv_stamped() => message,
        };
        match live.step_at(message, id) {
            Flow::Continue => {}
            Flow::Resync => {
                let snapshot = match &source {
                    Some(source) => source.snapshot().await,
                    None => None,
                };
                if let Some(snapshot) = snapshot {
                    live.reset(&snapshot);
                } else {
                    tracing::error!("cannot resynchronise: no roster source, or its owner has stopped");
                }
            }
            Flow::Stop => return,
        }
    }
}

/// What the fan-out loop does after a bus message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Wait for the next message.
    Continue,
    /// Events were lost: rebuild from the roster's owner.
    Resync,
    /// The bus is gone.
    Stop,
}

impl Live {
    /// Handles one bus message. The loop's body, separate so tests drive it without a task.
    pub fn step(&self, message: BusMessage) -> Flow {
        self.step_at(message, None)
    }

    /// [`Live::step`] for a message read from the Stream at `id`.
    pub fn step_at(&self, message: BusMessage, id: Option<StreamId>) -> Flow {
        match message {
            BusMessage::Event(event) => {
                match id {
                    Some(id) => self.publish_at(id, &event),
                    None => self.publish(&event),
                }
                Flow::Continue
            }
            BusMessage::Lagged(missed) => {
                tracing::warn!(missed, "fan-out fell behind the event bus; resynchronising");
                Flow::Resync
            }
            BusMessage::Closed => Flow::Stop,
        }
    }

    /// Brings every room in line with `snapshot`, publishing the `voice.left` / `voice.joined`
    /// events that the lost ones would have amounted to (then the roster's status), so viewers
    /// converge without reloading.
    pub fn reset(&self, snapshot: &RosterSnapshot) {
        // Frozen while the differences go out, so nobody judges a half-corrected roster.
        self.publish(&AppEvent::DiscordStatus(DiscordStatus {
            guild_id: snapshot.guild_id,
            status: RosterStatus::Connecting,
        }));
        let known: Vec<(ChannelId, Vec<RoomMember>)> = {
            let state = self.state();
            state
                .rooms
                .iter()
                .map(|(id, room)| (*id, room.members.values().cloned().collect()))
                .collect()
        };
        let truth: HashMap<UserId, &VoiceMember> = snapshot
            .members
            .iter()
            .map(|member| (member.user_id, member))
            .collect();
        for (room, members) in &known {
            for member in members {
                if truth
                    .get(&member.user_id)
                    .is_none_or(|now| now.channel_id != *room)
                {
                    self.publish(&AppEvent::VoiceLeft(VoiceLeft {
                        guild_id: snapshot.guild_id,
                        channel_id: None,
                        user_id: member.user_id,
                        left_channel_id: *room,
                    }));
                }
            }
        }
        for member in &snapshot.members {
            let present = known.iter().any(|(room, members)| {
                *room == member.channel_id && members.iter().any(|known| known.user_id == member.user_id)
            });
            if !present {
                self.publish(&AppEvent::VoiceJoined(VoiceJoined {
                    guild_id: snapshot.guild_id,
                    channel_id: member.channel_id,
                    user_id: member.user_id,
                    username: member.username.clone(),
                    avatar: member.avatar.clone(),
                }));
            }
        }
        self.publish(&AppEvent::DiscordStatus(DiscordStatus {
            guild_id: snapshot.guild_id,
            status: snapshot.status,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::tests::{LOUNGE, TABLE, id, joined};

    #[tokio::test]
    async fn the_fanout_applies_bus_events_until_the_bus_closes() {
        let bus = crate::bus::EventBus::local(8);
        let live = Live::new();
        let task = tokio::spawn(run_fanout(
            bus.subscribe(),
            live.clone(),
            None,
            CancellationToken::new(),
        ));
        let mut viewer = live.subscribe(id(TABLE), None).receiver;
        bus.publish(joined("10", "alice", TABLE));
        assert!(
            std::str::from_utf8(&viewer.recv().await.unwrap())
                .unwrap()
                .contains("\"alice\"")
        );
        assert_eq!(live.members_of(id(TABLE)).len(), 1);
        drop(bus);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_fanout_that_lagged_the_bus_rebuilds_from_the_roster_source() {
        let bus = crate::bus::EventBus::local(2);
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        live.publish(&joined("11", "bob", TABLE));
        let (source, mut requests) = RosterSource::channel();
        // The roster's owner: bob left the table, carol is in the lounge.
        tokio::spawn(async move {
            while let Some(reply) = requests.recv().await {
                let member = |user: &str, name: &str, channel: &str| VoiceMember {
                    user_id: id(user),
                    channel_id: id(channel),
                    username: name.to_owned(),
                    avatar: None,
                };
                let _ = reply.send(RosterSnapshot {
                    guild_id: id("2"),
                    members: vec![member("10", "alice", TABLE), member("12", "carol", LOUNGE)],
                    status: RosterStatus::Ready,
                });
            }
        });
        let subscription = bus.subscribe();
        // More events than the bus holds, before the fan-out ever runs: it lags.
        for user in ["20", "21", "22", "23"] {
            bus.publish(joined(user, "x", "4000000000000000009"));
        }
        drop(bus);
        run_fanout(subscription, live.clone(), Some(source), CancellationToken::new()).await;
        let names = |room: &str| -> Vec<String> {
            live.members_of(id(room))
                .into_iter()
                .map(|m| m.username)
                .collect()
        };
        assert_eq!(names(TABLE), ["alice"]);
        assert_eq!(names(LOUNGE), ["carol"]);
        assert_eq!(live.roster_status(), RosterStatus::Ready, "the source's status");
    }
}
