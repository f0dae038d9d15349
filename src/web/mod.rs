//! The web catalog: server-rendered pages outside `/v2/` for people browsing what the
//! registry holds, under the same access rules as pulls.

pub mod session;
