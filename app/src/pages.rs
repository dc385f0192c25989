//! One module per route; each exposes a `*Page` component.

pub mod game_room;
pub mod invite;
pub mod landing;
pub mod not_found;
