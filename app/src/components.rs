//! Reusable view pieces.

pub mod dev_panel;
pub mod dropout_modal;
pub mod member_list;
