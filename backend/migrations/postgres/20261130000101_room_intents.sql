-- Creating a room asks Discord for a channel, then stores the room: two systems, no transaction
-- between them. So the intent is written first, and every channel the app makes is recorded the
-- moment Discord answers; the reconciler (backend/src/rooms/reconciler.rs) finishes or undoes
-- whatever a crash, a dropped request or a failed write left between the two.
--
-- Why a table of its own rather than a `pending` state on `rooms`: a room's key is its channel
-- id, which does not exist until Discord answers, and every query about rooms would have to skip
-- half-made ones. An intent is short-lived (deleted in the transaction that stores its room) and
-- counts against the owner's room limit while it lives, so concurrent creates cannot exceed it.
CREATE TABLE room_intents (
    id          TEXT    PRIMARY KEY NOT NULL, -- random UUID
    guild_id    TEXT    NOT NULL,
    owner_id    TEXT    NOT NULL REFERENCES users (id),
    name        TEXT    NOT NULL,
    channel_id  TEXT,                         -- set as soon as Discord has made the channel
    created_at  BIGINT  NOT NULL              -- unix milliseconds
);
CREATE INDEX room_intents_owner ON room_intents (owner_id);

-- Every channel this app created, kept after its room closes: only a channel listed here (and
-- carrying the bot's own overwrite) may ever be deleted as an orphan, so a channel the app did
-- not make is never touched. Never deleted, so a record outlives any room row.
CREATE TABLE created_channels (
    channel_id  TEXT    PRIMARY KEY NOT NULL,
    guild_id    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL              -- unix milliseconds
);
-- Channels of rooms made before this table existed were made by the app too.
INSERT INTO created_channels (channel_id, guild_id, created_at)
    SELECT channel_id, guild_id, created_at FROM rooms;
