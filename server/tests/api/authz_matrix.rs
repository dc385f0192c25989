//! The authorisation matrix: every route the server answers × every kind of caller → the status
//! it must answer.
//!
//! The rows come from the server's own route table (`server::route_table`: plain routes, Leptos
//! pages and every registered server function), so a route added without a row here fails the
//! test instead of shipping unreviewed. Each row runs on a fresh room with fresh people (so one
//! row's effects, such as a close or a leave, cannot change another's answer), on a server
//! configured as a deployment is: real-Discord mode (no embedded simulator, no development aids).

use reqwest::{Method, StatusCode};

use crate::{
    helpers::{TestApp, spawn_app_on_real_discord},
    players::Player,
};

/// Who is calling. The order is the order in which each row calls, so the owner, whose calls
/// change the most (close, revoke), goes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No session.
    Anonymous,
    /// Signed in, nothing to do with the room.
    Stranger,
    /// Was a player; the owner removed them.
    Removed,
    /// Joined with the invite.
    Player,
    /// Created the room.
    Owner,
}

/// One row: a route, how to call it, and the status each caller must get, in
/// [`Caller`] order.
struct Row {
    method: Method,
    /// The route as the table lists it (`{param}` for path parameters).
    route: &'static str,
    /// The form arguments (POST) or query (GET), with `{room}`, `{token}`, `{player}`
    /// and `{removed}` filled in from the row's fixture.
    args: &'static [(&'static str, &'static str)],
    expect: [u16; 5],
}

const fn row(
    method: Method,
    route: &'static str,
    args: &'static [(&'static str, &'static str)],
    expect: [u16; 5],
) -> Row {
    Row {
        method,
        route,
        args,
        expect,
    }
}

const ROOM: &[(&str, &str)] = &[("channel", "{room}")];

//                                                                anon strngr removed player owner
#[allow(clippy::too_many_lines, reason = "one table of every route, read as a whole")]
fn rows() -> Vec<Row> {
    vec![
        row(Method::GET, "/health", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/api/health", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/health/live", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/health/ready", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/api/me", &[], [401, 200, 200, 200, 200]),
        row(
            Method::GET,
            "/api/stream",
            &[("room", "{room}")],
            [401, 403, 403, 200, 200],
        ),
        // Signed in: straight back; otherwise off to Discord.
        row(Method::GET, "/auth/login", &[], [303, 303, 303, 303, 303]),
        // Without the pending sign-in it belongs to: the friendly "expired" page.
        row(Method::GET, "/auth/callback", &[], [400, 400, 400, 400, 400]),
        row(Method::POST, "/auth/logout", &[], [303, 303, 303, 303, 303]),
        // The HMAC hub (HUB_SECRET is set): no session stands in for its signature headers.
        row(
            Method::POST,
            "/api/internal/events",
            &[],
            [400, 400, 400, 400, 400],
        ),
        // Pages render for everyone; what they show is decided by the server functions below.
        row(Method::GET, "/", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/game/{channel_id}", &[], [200, 200, 200, 200, 200]),
        row(Method::GET, "/invite/{token}", &[], [200, 200, 200, 200, 200]),
        row(Method::POST, "/api/viewer", &[], [200, 200, 200, 200, 200]),
        row(Method::POST, "/api/rooms/mine", &[], [401, 200, 200, 200, 200]),
        row(
            Method::POST,
            "/api/rooms/create",
            &[("name", "Another table")],
            [401, 200, 200, 200, 200],
        ),
        row(Method::POST, "/api/rooms/load", ROOM, [401, 403, 403, 200, 200]),
        // What the room page's address points at (open, ended, never was): anyone may know.
        row(Method::POST, "/api/rooms/status", ROOM, [200, 200, 200, 200, 200]),
        // The link is the invitation: whoever holds it sees what it is for, signed in or not.
        row(
            Method::POST,
            "/api/rooms/preview",
            &[("token", "{token}")],
            [200, 200, 200, 200, 200],
        ),
        // The stranger's join takes the third seat; the removed player stays out; the others are in.
        row(
            Method::POST,
            "/api/rooms/join",
            &[("token", "{token}")],
            [401, 200, 403, 200, 200],
        ),
        row(
            Method::POST,
            "/api/rooms/connect",
            ROOM,
            [401, 403, 403, 200, 200],
        ),
        row(
            Method::POST,
            "/api/rooms/refresh_invite",
            ROOM,
            [401, 403, 403, 403, 200],
        ),
        row(
            Method::POST,
            "/api/rooms/revoke_invite",
            ROOM,
            [401, 403, 403, 403, 200],
        ),
        row(
            Method::POST,
            "/api/rooms/remove_player",
            &[("channel", "{room}"), ("player", "{player}")],
            [401, 403, 403, 403, 200],
        ),
        // Letting a removed player back in is the owner's call alone.
        row(
            Method::POST,
            "/api/rooms/readmit_player",
            &[("channel", "{room}"), ("player", "{removed}")],
            [401, 403, 403, 403, 200],
        ),
        // The owner closes instead of leaving.
        row(Method::POST, "/api/rooms/leave", ROOM, [401, 403, 403, 200, 409]),
        row(Method::POST, "/api/rooms/close", ROOM, [401, 403, 403, 403, 200]),
        // Any seated player changes anyone's numbers, as at a real table; nobody else does.
        row(
            Method::POST,
            "/api/table/change",
            &[
                ("channel", "{room}"),
                ("target", "{player}"),
                ("counter", "life"),
                ("delta", "-1"),
            ],
            [401, 403, 403, 200, 200],
        ),
        // Nothing to undo yet: a seated player hears why, anyone else only that they may not.
        row(
            Method::POST,
            "/api/table/undo",
            &[("channel", "{room}"), ("seq", "1")],
            [401, 403, 403, 409, 409],
        ),
        // A player names their own commanders; the owner anyone's.
        row(
            Method::POST,
            "/api/table/commanders",
            &[
                ("channel", "{room}"),
                ("player", "{player}"),
                ("first", "Atraxa"),
                ("partner", ""),
            ],
            [401, 403, 403, 200, 200],
        ),
        row(
            Method::POST,
            "/api/table/reset",
            &[("channel", "{room}"), ("starting_life", "40")],
            [401, 403, 403, 403, 200],
        ),
        // Development aids do not exist outside the embedded simulator.
        row(Method::POST, "/api/dev/guild", &[], [404, 404, 404, 404, 404]),
        row(
            Method::POST,
            "/api/dev/voice",
            &[("user", "{player}")],
            [404, 404, 404, 404, 404],
        ),
    ]
}

/// The people and the room one row runs against.
struct Fixture {
    callers: Vec<(Caller, Player)>,
    room: String,
    token: String,
    player_id: String,
    removed_id: String,
}

impl Fixture {
    /// A room made by a fresh owner, joined by a fresh player, and a fresh removed player.
    async fn new(app: &TestApp, n: usize) -> Self {
        let user = |role: &str| app.discord.create_user(&format!("{role}{n}")).to_string();
        let (owner_id, player_id, removed_id, stranger_id) =
            (user("owner"), user("player"), user("removed"), user("stranger"));
        let owner = Player::signed_in(app, &owner_id).await;
        let player = Player::signed_in(app, &player_id).await;
        let removed = Player::signed_in(app, &removed_id).await;
        let stranger = Player::signed_in(app, &stranger_id).await;
        let (room, token) = owner.create_room(&format!("Matrix {n}")).await;
        player.call("join", &[("token", &token)]).await.ok();
        removed.call("join", &[("token", &token)]).await.ok();
        owner
            .call("remove_player", &[("channel", &room), ("player", &removed_id)])
            .await
            .ok();
        Self {
            callers: vec![
                (Caller::Anonymous, Player::anonymous(app)),
                (Caller::Stranger, stranger),
                (Caller::Removed, removed),
                (Caller::Player, player),
                (Caller::Owner, owner),
            ],
            room,
            token,
            player_id,
            removed_id,
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{room}", &self.room)
            .replace("{token}", &self.token)
            .replace("{player}", &self.player_id)
            .replace("{removed}", &self.removed_id)
    }

    /// The concrete path for a route of the table.
    fn path(&self, route: &str) -> String {
        route
            .replace("{channel_id}", &self.room)
            .replace("{token}", &self.token)
    }

    async fn call(&self, caller: &Player, row: &Row) -> StatusCode {
        let url = format!("{}{}", caller.address, self.path(row.route));
        let args: Vec<(&str, String)> = row
            .args
            .iter()
            .map(|(name, value)| (*name, self.fill(value)))
            .collect();
        let request = if row.method == Method::GET {
            caller.client.get(url).query(&args)
        } else {
            caller.client.request(row.method.clone(), url).form(&args)
        };
        // Only the status matters; a stream's body is never read (dropping it hangs up).
        request.send().await.unwrap().status()
    }
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_specified() {
    // Four people sign in for each row, all from 127.0.0.1: lift the per-address budget, which
    // has its own test. The hub is configured, so its row is about the route, not a 404.
    let app = spawn_app_on_real_discord(&[
        ("IP_RATE_BURST", "100000"),
        ("HUB_SECRET", "matrix-hub-secret-of-a-reasonable-length"),
    ])
    .await;
    let rows = rows();

    // Every route the server serves has a row, and every row is a route the server serves.
    let served: Vec<String> = server::route_table()
        .into_iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let listed: Vec<String> = rows
        .iter()
        .map(|row| format!("{} {}", row.method, row.route))
        .collect();
    let missing: Vec<&String> = served.iter().filter(|route| !listed.contains(route)).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorisation matrix: {missing:?}"
    );
    let stale: Vec<&String> = listed.iter().filter(|route| !served.contains(route)).collect();
    assert!(stale.is_empty(), "rows for routes that do not exist: {stale:?}");

    let mut wrong = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let fixture = Fixture::new(&app, n).await;
        for ((caller, player), expected) in fixture.callers.iter().zip(row.expect) {
            let status = fixture.call(player, row).await;
            if status.as_u16() != expected {
                wrong.push(format!(
                    "{} {} as {caller:?}: expected {expected}, got {status}",
                    row.method, row.route
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
