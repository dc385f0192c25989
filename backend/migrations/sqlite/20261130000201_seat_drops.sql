-- When a seated player last left the room's voice channel (unix milliseconds, server clock), kept
-- while they stay out of it and cleared when they are back: the table shows "dropped m:ss ago"
-- from this, so a reload or a restart shows the true time. NULL: in voice, or never was yet.
ALTER TABLE memberships ADD COLUMN dropped_at BIGINT;
