//! Reusable view pieces.

pub mod create_room;
pub mod dev_panel;
pub mod dropout_modal;
pub mod invite_panel;
pub mod life_counters;
pub mod member_list;
pub mod my_rooms;
pub mod room_controls;
