//! The sweep's points: the grid of buffer sizes and workloads, read from command-line lists.
//!
//! Owns the six axes (ProxyIOBufferSize, ProxyResponseBufferSize, client SendBufferSize,
//! response size, client read rate, splice or copy), their parsing with messages that name the
//! flag and the item, the order points are visited in, and the spoonfeed configuration for one
//! point. Must not start anything: the driver does that.
//!
//! Invariant: every axis of a [`Grid`] is non-empty, sorted ascending and free of duplicates,
//! and the product of their lengths is at most [`MAX_POINTS`].

use std::fmt;

use super::units::{directive_size, parse_size};

/// Most points one sweep may have: each point starts a proxy and runs a load for seconds, so a
/// grid past this is a typo (a forgotten comma turning into a cartesian explosion), not a plan.
/// Larger grids are refused with [`GridError::TooManyPoints`].
pub const MAX_POINTS: usize = 10_000;

/// Most values one axis may list; past it the list is refused as [`GridError::TooManyValues`].
pub const MAX_VALUES_PER_AXIS: usize = 64;

/// Smallest and largest ProxyIOBufferSize spoonfeed accepts (its directive's range).
pub const IO_BUFFER_RANGE: (u64, u64) = (512, 1 << 20);

/// Largest ProxyResponseBufferSize, SendBufferSize, response size and read rate the sweep
/// takes: 1 GiB, spoonfeed's own ceiling for socket buffers, and far past what one point can
/// measure in seconds.
pub const MAX_SWEPT_BYTES: u64 = 1 << 30;

/// Slow clients per point the configured pool is sized for (see
/// [`Point::pool_size`]): the driver must not run more connections than this at once, or
/// the pool's cap, not the buffer sizes, would shape the results.
pub const POOL_CLIENTS: u64 = 256;

/// spoonfeed's default ProxyBufferPoolSize, the least a point gets.
const DEFAULT_POOL_BYTES: u64 = 256 << 20;

/// How spoonfeed moves a response body: through its blocks, or through a pipe with splice(2).
/// `ProxySplice Auto` is not an axis: it picks one of these per response, which would blur the
/// comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// `ProxySplice Off`: bytes are read into blocks and written from them.
    Copy,
    /// `ProxySplice On`: every Content-Length body goes socket → pipe → socket.
    Splice,
}

impl Mode {
    /// The name used on the command line and in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Copy => "copy",
            Mode::Splice => "splice",
        }
    }

    /// The `ProxySplice` argument for this mode.
    pub fn directive(self) -> &'static str {
        match self {
            Mode::Copy => "Off",
            Mode::Splice => "On",
        }
    }

    /// Reads `copy` or `splice` (case-insensitive).
    pub fn parse(text: &str) -> Option<Mode> {
        match text.to_ascii_lowercase().as_str() {
            "copy" => Some(Mode::Copy),
            "splice" => Some(Mode::Splice),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One point of the sweep: what spoonfeed is configured with and what the clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Point {
    /// `ProxyIOBufferSize`, bytes.
    pub io_buffer: u64,
    /// `ProxyResponseBufferSize`, bytes.
    pub response_buffer: u64,
    /// `SendBufferSize` of client sockets, bytes; 0 is the OS default.
    pub send_buffer: u64,
    /// Size of each response body, bytes.
    pub response_size: u64,
    /// Bytes per second each client reads.
    pub read_rate: u64,
    /// Splice or copy.
    pub mode: Mode,
}

impl Point {
    /// The ProxyBufferPoolSize this point is run with: room for [`POOL_CLIENTS`] responses of
    /// ProxyResponseBufferSize plus two blocks each (head and the block that passes the limit),
    /// doubled because spoonfeed keeps 1/8 of the pool back from bodies and lets pipes hold at
    /// most half of it; never below spoonfeed's default; a whole number of blocks. A ceiling,
    /// not an allocation: spoonfeed allocates blocks as it needs them.
    pub fn pool_size(&self) -> u64 {
        let per_client = self.response_buffer + 2 * self.io_buffer;
        let wanted = (POOL_CLIENTS * per_client * 2).max(DEFAULT_POOL_BYTES);
        wanted.div_ceil(self.io_buffer) * self.io_buffer
    }

    /// The spoonfeed configuration for this point: one reactor listening on 127.0.0.1
    /// `listen_port` (0 lets the system pick), everything proxied to the origin on 127.0.0.1
    /// `origin_port`, the point's sizes and mode, and the status endpoint at `/status`.
    pub fn spoonfeed_config(&self, origin_port: u16, listen_port: u16) -> String {
        format!(
            "# bufsweep point: {self}\n\
             Listen 127.0.0.1:{listen_port}\n\
             Workers 1\n\
             ProxyPass / http://127.0.0.1:{origin_port}/\n\
             ProxyIOBufferSize {}\n\
             ProxyResponseBufferSize {}\n\
             ProxyBufferPoolSize {}\n\
             SendBufferSize {}\n\
             ProxySplice {}\n\
             StatusLocation /status\n",
            directive_size(self.io_buffer),
            directive_size(self.response_buffer),
            directive_size(self.pool_size()),
            directive_size(self.send_buffer),
            self.mode.directive(),
        )
    }

    /// The request target, on the bundled origin, of this point's response size.
    pub fn request_target(&self) -> String {
        format!("/bytes/{}", self.response_size)
    }
}

impl fmt::Display for Point {
    /// The point as the command line would give it: `io=16k response-buffer=1m sndbuf=64k
    /// size=1m read-rate=128k mode=copy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io={} response-buffer={} sndbuf={} size={} read-rate={} mode={}",
            directive_size(self.io_buffer),
            directive_size(self.response_buffer),
            directive_size(self.send_buffer),
            directive_size(self.response_size),
            directive_size(self.read_rate),
            self.mode
        )
    }
}

/// What went wrong reading the grid from the command line. Each message names the flag and,
/// where there is one, the item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GridError {
    /// A flag that is not one of [`Grid::FLAGS`].
    UnknownFlag(String),
    /// A flag at the end of the arguments, without its list.
    MissingValue(&'static str),
    /// A flag given twice.
    RepeatedFlag(&'static str),
    /// An empty list, or an empty item in one (`4k,,16k`).
    EmptyItem(&'static str),
    /// An item that is not a size (or, for `--mode`, not `copy` or `splice`).
    Invalid {
        flag: &'static str,
        item: String,
        reason: String,
    },
    /// A size outside what the axis allows.
    OutOfRange {
        flag: &'static str,
        item: String,
        min: u64,
        max: u64,
    },
    /// The same value twice in one list (`1m,1024k` counts).
    Duplicate { flag: &'static str, item: String },
    /// More than [`MAX_VALUES_PER_AXIS`] values in one list.
    TooManyValues(&'static str),
    /// A grid of more than [`MAX_POINTS`] points.
    TooManyPoints(u128),
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridError::UnknownFlag(flag) => write!(
                f,
                "unknown option {flag}; the grid takes {}",
                Grid::FLAGS.join(", ")
            ),
            GridError::MissingValue(flag) => {
                write!(f, "{flag} needs a comma-separated list, such as {flag} {}", example(flag))
            }
            GridError::RepeatedFlag(flag) => write!(
                f,
                "{flag} given twice; give its values once, comma-separated ({flag} {})",
                example(flag)
            ),
            GridError::EmptyItem(flag) => write!(
                f,
                "{flag}: empty item in the list; give values separated by single commas, such as {}",
                example(flag)
            ),
            GridError::Invalid { flag, item, reason } => write!(f, "{flag} {item}: {reason}"),
            GridError::OutOfRange {
                flag,
                item,
                min,
                max,
            } => write!(
                f,
                "{flag} {item}: must be from {} to {} bytes",
                directive_size(*min),
                directive_size(*max)
            ),
            GridError::Duplicate { flag, item } => {
                write!(f, "{flag}: {item} is listed twice (or as another spelling of the same size)")
            }
            GridError::TooManyValues(flag) => {
                write!(f, "{flag}: more than {MAX_VALUES_PER_AXIS} values")
            }
            GridError::TooManyPoints(n) => write!(
                f,
                "the grid has {n} points, more than the {MAX_POINTS} one sweep may run; shorten a list"
            ),
        }
    }
}

impl std::error::Error for GridError {}

fn example(flag: &str) -> &'static str {
    match flag {
        "--io" => "4k,16k,64k",
        "--response-buffer" => "256k,1m,4m",
        "--sndbuf" => "64k",
        "--size" => "64k,1m",
        "--read-rate" => "128k,1m",
        _ => "copy,splice",
    }
}

/// The sweep's axes. Build it with [`Grid::from_args`] or [`Grid::set`]; visit it with
/// [`Grid::points`].
///
/// Invariant: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    io_buffer: Vec<u64>,
    response_buffer: Vec<u64>,
    send_buffer: Vec<u64>,
    response_size: Vec<u64>,
    read_rate: Vec<u64>,
    mode: Vec<Mode>,
    /// Flags set so far, to refuse a repeated one.
    given: Vec<&'static str>,
}

impl Default for Grid {
    /// One point, spoonfeed's defaults where it has them: `--io 16k --response-buffer 1m
    /// --sndbuf 64k --size 1m --read-rate 256k --mode copy`. SendBufferSize is 64k rather than
    /// the OS default so that the kernel does not do the buffering being measured (README,
    /// "Kernel socket buffers").
    fn default() -> Grid {
        Grid {
            io_buffer: vec![16 << 10],
            response_buffer: vec![1 << 20],
            send_buffer: vec![64 << 10],
            response_size: vec![1 << 20],
            read_rate: vec![256 << 10],
            mode: vec![Mode::Copy],
            given: Vec::new(),
        }
    }
}

impl Grid {
    /// The flags the grid reads, in the order of its axes.
    pub const FLAGS: [&'static str; 6] = [
        "--io",
        "--response-buffer",
        "--sndbuf",
        "--size",
        "--read-rate",
        "--mode",
    ];

    /// Reads `--flag LIST` and `--flag=LIST` pairs; flags not given keep [`Grid::default`]'s
    /// value. Anything that is not a grid flag is an error.
    pub fn from_args<I, S>(args: I) -> Result<Grid, GridError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut grid = Grid::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.as_ref();
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, list)) if flag.starts_with("--") => (flag, Some(list.to_string())),
                _ => (arg, None),
            };
            let Some(&known) = Grid::FLAGS.iter().find(|f| **f == flag) else {
                return Err(GridError::UnknownFlag(arg.to_string()));
            };
            let list = match inline {
                Some(list) => list,
                None => args
                    .next()
                    .map(|s| s.as_ref().to_string())
                    .ok_or(GridError::MissingValue(known))?,
            };
            grid.set(flag, &list)?;
        }
        Ok(grid)
    }

    /// Sets one axis from its flag and comma-separated list, for a command line that has other
    /// options too: an unknown flag is [`GridError::UnknownFlag`] and leaves the grid as it was.
    /// Values are sorted ascending; a list may not repeat a value.
    pub fn set(&mut self, flag: &str, list: &str) -> Result<(), GridError> {
        let Some(&flag) = Grid::FLAGS.iter().find(|f| **f == flag) else {
            return Err(GridError::UnknownFlag(flag.to_string()));
        };
        if self.given.contains(&flag) {
            return Err(GridError::RepeatedFlag(flag));
        }
        let items: Vec<&str> = list.split(',').map(str::trim).collect();
        if items.iter().any(|item| item.is_empty()) {
            return Err(GridError::EmptyItem(flag));
        }
        if items.len() > MAX_VALUES_PER_AXIS {
            return Err(GridError::TooManyValues(flag));
        }
        let mut next = self.clone();
        if flag == "--mode" {
            next.mode = parse_list(flag, &items, |item| {
                Mode::parse(item).ok_or_else(|| "give copy or splice".to_string())
            })?;
        } else {
            let (min, max) = match flag {
                "--io" => IO_BUFFER_RANGE,
                "--read-rate" | "--response-buffer" => (1, MAX_SWEPT_BYTES),
                _ => (0, MAX_SWEPT_BYTES),
            };
            let values = parse_list(flag, &items, |item| {
                let n = parse_size(item)?;
                if (min..=max).contains(&n) {
                    Ok(n)
                } else {
                    // No message of parse_size is empty: this one is turned into OutOfRange.
                    Err(String::new())
                }
            })
            .map_err(|e| match e {
                GridError::Invalid { flag, item, reason } if reason.is_empty() => {
                    GridError::OutOfRange {
                        flag,
                        item,
                        min,
                        max,
                    }
                }
                e => e,
            })?;
            *match flag {
                "--io" => &mut next.io_buffer,
                "--response-buffer" => &mut next.response_buffer,
                "--sndbuf" => &mut next.send_buffer,
                "--size" => &mut next.response_size,
                _ => &mut next.read_rate,
            } = values;
        }
        let points = next
            .axis_lengths()
            .iter()
            .map(|&n| n as u128)
            .product::<u128>();
        if points > MAX_POINTS as u128 {
            return Err(GridError::TooManyPoints(points));
        }
        next.given.push(flag);
        *self = next;
        self.check_invariants();
        Ok(())
    }

    fn axis_lengths(&self) -> [usize; 6] {
        [
            self.io_buffer.len(),
            self.response_buffer.len(),
            self.send_buffer.len(),
            self.response_size.len(),
            self.read_rate.len(),
            self.mode.len(),
        ]
    }

    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            fn sorted_unique<T: Ord>(v: &[T]) -> bool {
                !v.is_empty() && v.windows(2).all(|w| w[0] < w[1])
            }
            assert!(sorted_unique(&self.io_buffer));
            assert!(sorted_unique(&self.response_buffer));
            assert!(sorted_unique(&self.send_buffer));
            assert!(sorted_unique(&self.response_size));
            assert!(sorted_unique(&self.read_rate));
            assert!(sorted_unique(&self.mode));
            assert!(self.len() <= MAX_POINTS);
        }
    }

    /// How many points the grid has.
    pub fn len(&self) -> usize {
        self.axis_lengths().iter().product()
    }

    /// Always false: every axis has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `index`th point, `None` past the end. Points are numbered with the first axis
    /// (ProxyIOBufferSize) slowest and the last (mode) fastest, each axis ascending, so two
    /// grids with the same values list their points in the same order whatever order the
    /// command line gave them in.
    pub fn point(&self, index: usize) -> Option<Point> {
        if index >= self.len() {
            return None;
        }
        let lengths = self.axis_lengths();
        let mut digits = [0usize; 6];
        let mut rest = index;
        for axis in (0..6).rev() {
            digits[axis] = rest % lengths[axis];
            rest /= lengths[axis];
        }
        Some(Point {
            io_buffer: self.io_buffer[digits[0]],
            response_buffer: self.response_buffer[digits[1]],
            send_buffer: self.send_buffer[digits[2]],
            response_size: self.response_size[digits[3]],
            read_rate: self.read_rate[digits[4]],
            mode: self.mode[digits[5]],
        })
    }

    /// Every point, in the order [`Grid::point`] numbers them.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        (0..self.len()).filter_map(|i| self.point(i))
    }
}

/// Parses each item with `parse`, then sorts and refuses duplicates.
fn parse_list<T: Ord + Copy>(
    flag: &'static str,
    items: &[&str],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, GridError> {
    let mut values: Vec<T> = Vec::with_capacity(items.len());
    for &item in items {
        let value = parse(item).map_err(|reason| GridError::Invalid {
            flag,
            item: item.to_string(),
            reason,
        })?;
        if values.contains(&value) {
            return Err(GridError::Duplicate {
                flag,
                item: item.to_string(),
            });
        }
        values.push(value);
    }
    values.sort_unstable();
    Ok(values)
}
