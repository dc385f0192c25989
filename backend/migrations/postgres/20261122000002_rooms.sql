-- Game rooms: each is a private voice channel the app created (and so may delete).
CREATE TABLE rooms (
    channel_id  TEXT    PRIMARY KEY NOT NULL, -- the Discord voice channel, decimal snowflake
    guild_id    TEXT    NOT NULL,
    owner_id    TEXT    NOT NULL REFERENCES users (id),
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL              -- unix milliseconds
);
CREATE INDEX rooms_owner ON rooms (owner_id);

-- Players admitted to a room (the owner included); at most four per room.
CREATE TABLE memberships (
    channel_id  TEXT    NOT NULL REFERENCES rooms (channel_id) ON DELETE CASCADE,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    joined_at   BIGINT  NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- The one live invite of a room. Only the SHA-256 of the token is kept: a leaked database does
-- not leak working links. Refreshing replaces the row; revoking deletes it. Not tied to `rooms`
-- on purpose: the invite of a closed room outlives it until it expires, so a friend opening it
-- learns "this room no longer exists" instead of "invalid link".
CREATE TABLE invites (
    channel_id  TEXT    PRIMARY KEY NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,      -- hex SHA-256 of the token
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL              -- unix milliseconds
);
CREATE INDEX invites_expiry ON invites (expires_at);
