-- The pod's shared life totals. The order of changes in a room is kept here, not in any one
-- process: every change first bumps its room's `table_seq` (which also serialises changes to one
-- room: a row lock on PostgreSQL, the write lock on SQLite), so it holds with several web
-- instances.
ALTER TABLE rooms ADD COLUMN starting_life INTEGER NOT NULL DEFAULT 40;
ALTER TABLE rooms ADD COLUMN table_seq BIGINT NOT NULL DEFAULT 0;

-- One row per player who has numbers in the room; a seated player without one has the starting
-- life and nothing else. Kept when a player gets up, so a player let back in finds their numbers.
CREATE TABLE life_totals (
    channel_id   TEXT     NOT NULL REFERENCES rooms (channel_id) ON DELETE CASCADE,
    user_id      TEXT     NOT NULL,
    life         INTEGER  NOT NULL,
    poison       INTEGER  NOT NULL,
    commander_1  TEXT,                -- their commander's name, if they gave it
    commander_2  TEXT,                -- their partner's
    seq          BIGINT   NOT NULL,   -- the room's table_seq of the last change to this row
    PRIMARY KEY (channel_id, user_id)
);

-- Commander damage taken by `target_id` from `source_id`'s first (0) or partner (1) commander.
CREATE TABLE commander_damage (
    channel_id  TEXT     NOT NULL REFERENCES rooms (channel_id) ON DELETE CASCADE,
    target_id   TEXT     NOT NULL,
    source_id   TEXT     NOT NULL,
    commander   INTEGER  NOT NULL,
    damage      INTEGER  NOT NULL,
    PRIMARY KEY (channel_id, target_id, source_id, commander)
);

-- Every change of the current game, in the room's order. An undo is a change of its own that
-- names the one it undoes; the unique index lets a change be undone once, whatever races.
CREATE TABLE life_changes (
    channel_id  TEXT     NOT NULL REFERENCES rooms (channel_id) ON DELETE CASCADE,
    seq         BIGINT   NOT NULL,
    author_id   TEXT     NOT NULL,
    target_id   TEXT     NOT NULL,
    counter     TEXT     NOT NULL,   -- `life`, `poison` or `commander:<source>:<0|1>`
    delta       INTEGER  NOT NULL,
    undo_of     BIGINT,
    at          BIGINT   NOT NULL,   -- unix milliseconds, server clock
    PRIMARY KEY (channel_id, seq)
);
CREATE UNIQUE INDEX life_changes_undo ON life_changes (channel_id, undo_of);
CREATE INDEX life_changes_author ON life_changes (channel_id, author_id, seq);
