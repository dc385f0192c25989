-- A room's life outlives the process that watches it.
--
-- idle_since / warned_at: since when nobody has been in the room's voice channel or on its page,
-- and when its people were warned that it will close. Kept here rather than in memory so that a
-- deploy does not restart the idle hour; both are NULL while the room is busy.
--
-- closed_at / closed_reason: a closed room keeps its row, so its page can say the game ended (and
-- why); every query about open rooms skips closed ones. Its memberships and removals stay with it:
-- they say who played (who may see that record), closing stays one UPDATE that a failed Discord
-- delete can undo exactly, and nothing can use them any more (every way in checks the room is open).
ALTER TABLE rooms ADD COLUMN idle_since BIGINT;
ALTER TABLE rooms ADD COLUMN warned_at BIGINT;
ALTER TABLE rooms ADD COLUMN closed_at BIGINT;
ALTER TABLE rooms ADD COLUMN closed_reason TEXT CHECK (closed_reason IN ('owner', 'idle', 'channel_gone'));
