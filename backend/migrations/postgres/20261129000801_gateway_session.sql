-- The Discord gateway session the app last held, with the voice roster it is valid at, so that a
-- restart (a deploy, a crash) RESUMEs instead of re-identifying: Discord replays what happened
-- since `sequence` and the roster catches up. Both tables are written in one transaction, so the
-- roster always matches the sequence. One row per guild (the app runs one shard).
CREATE TABLE gateway_sessions (
    guild_id    TEXT    PRIMARY KEY NOT NULL,
    session_id  TEXT    NOT NULL,
    sequence    BIGINT  NOT NULL,
    resume_url  TEXT,
    token_hash  TEXT    NOT NULL,             -- hex SHA-256 of the bot token (never the token)
    intents     BIGINT  NOT NULL,
    saved_at    BIGINT  NOT NULL              -- unix milliseconds
);

-- Who was in which voice channel at `gateway_sessions.sequence`.
CREATE TABLE gateway_voice_states (
    guild_id    TEXT    NOT NULL REFERENCES gateway_sessions (guild_id) ON DELETE CASCADE,
    user_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    avatar      TEXT,
    PRIMARY KEY (guild_id, user_id)
);
