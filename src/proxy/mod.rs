//! Proxy logic without sockets: which backend a request goes to (`route`), what the backend
//! and the client see of each other's heads (`forward`), and how backend URLs in response
//! headers are turned back into the client's view (`reverse`), and what a path means for
//! routing (`path`).

pub mod forward;
pub mod path;
pub mod reverse;
pub mod route;
