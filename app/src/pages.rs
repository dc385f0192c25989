//! One module per route; each exposes a `*Page` component.

pub mod landing;
pub mod not_found;
