-- Players the owner removed from a room. While a row is here the room's invite does not let that
-- user back in (a removal that a one-click rejoin undoes is no removal); the owner deletes the row
-- to let them back in. A player who left on their own has no row and may rejoin with the invite.
-- The rows go with their room.
CREATE TABLE room_removals (
    channel_id  TEXT    NOT NULL REFERENCES rooms (channel_id) ON DELETE CASCADE,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    removed_at  BIGINT  NOT NULL,             -- unix milliseconds
    removed_by  TEXT    NOT NULL REFERENCES users (id),
    PRIMARY KEY (channel_id, user_id)
);
