//! Reusable view pieces.

pub mod member_list;
