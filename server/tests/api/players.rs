//! People using the app over HTTP, each with their own cookies: signed in through the simulator's
//! real OAuth2 consent flow, calling server functions as the browser does (form-encoded POSTs,
//! JSON answers).

use reqwest::{StatusCode, header::LOCATION};
use serde_json::Value;

use crate::helpers::TestApp;

/// One person's browser, as far as HTTP goes.
pub struct Player {
    pub client: reqwest::Client,
    /// The server this person talks to (repoint it after a restart).
    pub address: String,
}

/// A server function's answer: its status and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The body of a success, or a panic naming the failure.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {self:?}");
        self.body
    }

    /// Asserts the status and the error's wire name (`invalid_input`, `invite`, …); returns the
    /// message.
    pub fn err(self, status: u16, error: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"], error, "{self:?}");
        self.body["message"].as_str().unwrap_or_default().to_owned()
    }
}

impl Player {
    /// Someone who has not signed in.
    pub fn anonymous(app: &TestApp) -> Self {
        Self::anonymous_at(&app.address)
    }

    /// Someone who has not signed in, using the server at `address` (a server binary, say).
    pub fn anonymous_at(address: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            address: address.to_owned(),
        }
    }

    /// Someone signed in as the simulator's user `user` (a snowflake).
    pub async fn signed_in(app: &TestApp, user: &str) -> Self {
        Self::signed_in_at(&app.address, user).await
    }

    /// [`Player::signed_in`] on the server at `address`.
    pub async fn signed_in_at(address: &str, user: &str) -> Self {
        let player = Self::anonymous_at(address);
        player.sign_in(user).await;
        player
    }

    /// Goes through `/auth/login`, the simulator's consent page and the callback, as a friend
    /// does from an invite (so the app may add them to the guild: `guilds.join`).
    pub async fn sign_in(&self, user: &str) {
        self.sign_in_from(user, "/invite/to-a-game").await;
    }

    /// [`Player::sign_in`] from the page at `return_to` (which decides the scopes asked for).
    pub async fn sign_in_from(&self, user: &str, return_to: &str) {
        let login = self.get(&format!("/auth/login?return_to={return_to}")).await;
        assert_eq!(login.status(), 303);
        let authorize = url::Url::parse(login.headers()[LOCATION].to_str().unwrap()).unwrap();
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("user_id".to_owned(), user.to_owned()));
        let mut consent = authorize.clone();
        consent.set_query(None);
        let decided = self.client.post(consent).form(&form).send().await.unwrap();
        assert!(decided.status().is_redirection(), "{}", decided.status());
        let callback = decided.headers()[LOCATION].to_str().unwrap().to_owned();
        let done = self.client.get(callback).send().await.unwrap();
        assert_eq!(done.status(), 303, "signed in as {user}");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Calls the server function at `/api/rooms/{endpoint}` with form arguments.
    pub async fn call(&self, endpoint: &str, args: &[(&str, &str)]) -> Answer {
        self.post(&format!("/api/rooms/{endpoint}"), args).await
    }

    /// Calls the life-total server function at `/api/table/{endpoint}` with form arguments.
    pub async fn table(&self, endpoint: &str, args: &[(&str, &str)]) -> Answer {
        self.post(&format!("/api/table/{endpoint}"), args).await
    }

    /// Calls the server function at `path` with form arguments.
    pub async fn post(&self, path: &str, args: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .form(args)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|value| value.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}"))
        };
        Answer {
            status,
            body,
            retry_after,
        }
    }

    /// Creates a room and returns its channel id and invite token.
    pub async fn create_room(&self, name: &str) -> (String, String) {
        let room = self.call("create", &[("name", name)]).await.ok();
        (
            room["channelId"].as_str().unwrap().to_owned(),
            room["invite"]["token"].as_str().unwrap().to_owned(),
        )
    }
}
