//! Proxy logic without sockets: which backend a request goes to (`route`), what the backend
//! and the client see of each other's heads (`forward`), and how backend URLs in response
//! headers are turned back into the client's view (`reverse`).

pub mod forward;
pub mod reverse;
pub mod route;
