//! Structured concurrency, after asyncio: [`JoinSet`] and [`TaskGroup`]
//! (gather, and fail together), [`wait`] and [`as_completed`], [`race`]
//! and [`race_all`], and [`shield`].
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `asyncio.gather(*coros)` | [`TaskGroup::join`] (values in order), [`JoinSet::join_all`] |
//! | `async with asyncio.TaskGroup() as tg` | [`TaskGroup`] |
//! | `asyncio.wait(tasks, return_when=...)` | [`wait`] with [`WaitMode`] |
//! | `asyncio.as_completed(tasks)` | [`as_completed`] |
//! | `asyncio.wait_for(fut, t)` | [`time::timeout`](crate::time::timeout) |
//! | first of several, cancel the rest | [`race`], [`race_all`] |
//! | `asyncio.shield(fut)` | [`shield`] |
//!
//! Tasks themselves are spawned with [`spawn`](crate::spawn) and cancelled
//! with [`Task::cancel`](crate::Task::cancel).

mod group;
mod join_set;
mod race;
mod wait;

pub use group::{TaskGroup, TaskGroupError};
pub use join_set::JoinSet;
pub use race::{Either, Shield, race, race_all, shield};
pub use wait::{AsCompleted, Outcome, WaitMode, WaitOutput, as_completed, wait};
