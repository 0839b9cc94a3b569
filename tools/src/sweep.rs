//! The pure core of `bufsweep`: the grid of buffer sizes and workloads, the measured rows, and
//! what they are turned into (CSV, an SVG plot, a recommendation).
//!
//! `bufsweep` runs, for each point of a [`Grid`], the bundled origin and a spoonfeed configured
//! by [`Point::spoonfeed_config`], drives slow clients through it, reads the status endpoint
//! ([`parse_status_json`]) and records a [`Row`]. This module owns everything in that loop that
//! needs no socket, process or clock, so all of it is tested here without starting anything:
//! [`grid`] (axes, parsing, order, configuration text), [`status`] (the status endpoint's JSON),
//! [`row`] (rows and CSV), [`json`] (a small JSON reader the driver may use for other answers too), [`svg`] (the plot), [`recommend`](mod@recommend) (the answer in words)
//! and [`units`] (sizes, rates and times, read and printed). It must not do I/O, except in
//! [`driver`], which runs the points (processes, sockets, files) and reads the command line.

pub mod driver;
pub mod grid;
pub mod json;
pub mod recommend;
pub mod row;
pub mod status;
pub mod svg;
pub mod units;

pub use grid::{Grid, GridError, Mode, Point};
pub use recommend::recommend;
pub use row::{to_csv, Row, CSV_COLUMNS};
pub use status::{parse_status_json, Hist, RouteStatus, Status, StatusError};
pub use svg::to_svg;
