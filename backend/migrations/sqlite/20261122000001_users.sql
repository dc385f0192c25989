-- Discord users who have signed in; the profile is refreshed at every sign-in.
CREATE TABLE users (
    id          TEXT    PRIMARY KEY NOT NULL, -- Discord snowflake, decimal
    username    TEXT    NOT NULL,
    global_name TEXT,
    avatar      TEXT,                         -- Discord avatar hash
    created_at  BIGINT  NOT NULL,             -- unix milliseconds
    updated_at  BIGINT  NOT NULL
);
