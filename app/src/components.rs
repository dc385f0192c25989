//! Reusable view pieces.

pub mod dev_panel;
pub mod member_list;
