//! A hand-written io_uring echo loop, the ceiling for a completion-based
//! runtime on this kernel:
//!
//! - `SINGLE_ISSUER | DEFER_TASKRUN`, registered ring fd, one
//!   `io_uring_enter` per loop iteration (submit + wait together);
//! - one multishot accept that installs connections straight into the
//!   fixed-file table (no fd per connection, no fget/fput per op);
//! - one multishot receive per connection, fed by a provided-buffer ring of
//!   `--buf`-byte buffers: a message costs one send SQE and nothing else;
//! - the received buffer is sent back as is and recycled when the send
//!   completes; one send per connection in flight keeps bytes in order.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::ServeArgs;
use crate::common::{announce_ready, bind_listener, local_addr, raise_nofile};
use crate::uring_util::{BufRing, push_sqe};

const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;
const OP_CLOSE: u64 = 4;
const OP_SHUTDOWN: u64 = 5;
const BGID: u16 = 1;

#[inline]
fn ud(slot: usize, op: u64) -> u64 {
    ((slot as u64) << 8) | op
}

#[derive(Default)]
struct Conn {
    /// Received buffers waiting to go back: (buffer id, length).
    queue: VecDeque<(u16, u32)>,
    /// Bytes of the front buffer already sent.
    off: u32,
    sending: bool,
    recv_live: bool,
    /// The peer sent EOF: echo what is queued, then close.
    eof: bool,
    /// A send or receive failed: drop everything and close.
    aborted: bool,
    shutdown_sent: bool,
    closed: bool,
}

struct Server<'a> {
    sq: io_uring::SubmissionQueue<'a>,
    submitter: io_uring::Submitter<'a>,
    bufs: BufRing,
    conns: Vec<Conn>,
    starved: Vec<usize>,
    recycled: usize,
}

impl Server<'_> {
    fn push(&mut self, e: squeue::Entry) -> io::Result<()> {
        // SAFETY: entries refer to fixed-file slots and to buffers of the
        // buffer ring, which live as long as the ring (the process).
        unsafe { push_sqe(&mut self.sq, &self.submitter, &e) }
    }

    fn arm_recv(&mut self, slot: usize) -> io::Result<()> {
        self.conns[slot].recv_live = true;
        self.push(
            opcode::RecvMulti::new(types::Fixed(slot as u32), BGID)
                .build()
                .user_data(ud(slot, OP_RECV)),
        )
    }

    fn send_front(&mut self, slot: usize) -> io::Result<()> {
        let c = &mut self.conns[slot];
        let Some(&(bid, len)) = c.queue.front() else {
            return Ok(());
        };
        c.sending = true;
        let off = c.off;
        // SAFETY: off < len <= buffer size, inside buffer `bid`.
        let ptr = unsafe { self.bufs.ptr(bid).add(off as usize) };
        self.push(
            opcode::Send::new(types::Fixed(slot as u32), ptr, len - off)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(ud(slot, OP_SEND)),
        )
    }

    fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
        self.recycled += 1;
    }

    fn recycle_queue(&mut self, slot: usize) {
        let c = &mut self.conns[slot];
        c.off = 0;
        let bids: Vec<u16> = c.queue.drain(..).map(|(bid, _)| bid).collect();
        for bid in bids {
            self.recycle(bid);
        }
    }

    /// Closes the slot once nothing is in flight and nothing is left to send.
    fn maybe_close(&mut self, slot: usize) -> io::Result<()> {
        let c = &mut self.conns[slot];
        if (c.eof || c.aborted) && !c.sending && !c.recv_live && c.queue.is_empty() && !c.closed {
            c.closed = true;
            self.push(
                opcode::Close::new(types::Fixed(slot as u32))
                    .build()
                    .user_data(ud(slot, OP_CLOSE)),
            )?;
        }
        Ok(())
    }

    /// A send or receive failed: drop queued data, stop receiving, close.
    fn abort(&mut self, slot: usize) -> io::Result<()> {
        self.conns[slot].aborted = true;
        if !self.conns[slot].sending {
            self.recycle_queue(slot);
        }
        let c = &mut self.conns[slot];
        if c.recv_live && !c.shutdown_sent {
            c.shutdown_sent = true;
            self.push(
                opcode::Shutdown::new(types::Fixed(slot as u32), libc::SHUT_RDWR)
                    .build()
                    .user_data(ud(slot, OP_SHUTDOWN)),
            )?;
        }
        self.maybe_close(slot)
    }

    fn on_recv(&mut self, slot: usize, res: i32, flags: u32) -> io::Result<()> {
        let more = cqueue::more(flags);
        if !more {
            self.conns[slot].recv_live = false;
        }
        if res > 0 {
            let bid = cqueue::buffer_select(flags)
                .ok_or_else(|| io::Error::other("recv completion without a buffer"))?;
            let c = &mut self.conns[slot];
            if c.aborted {
                self.recycle(bid);
                return self.maybe_close(slot);
            }
            c.queue.push_back((bid, res as u32));
            if !c.sending {
                self.send_front(slot)?;
            }
            if !more {
                self.arm_recv(slot)?;
            }
            Ok(())
        } else if res == 0 {
            self.conns[slot].eof = true;
            self.maybe_close(slot)
        } else if res == -libc::ENOBUFS && !self.conns[slot].aborted {
            self.starved.push(slot);
            Ok(())
        } else {
            self.abort(slot)
        }
    }

    fn on_send(&mut self, slot: usize, res: i32) -> io::Result<()> {
        self.conns[slot].sending = false;
        if res < 0 {
            return self.abort(slot);
        }
        if self.conns[slot].aborted {
            self.recycle_queue(slot);
            return self.maybe_close(slot);
        }
        let c = &mut self.conns[slot];
        let (bid, len) = *c.queue.front().expect("send without data");
        c.off += res as u32;
        if c.off >= len {
            c.queue.pop_front();
            c.off = 0;
            self.recycle(bid);
        }
        if self.conns[slot].queue.is_empty() {
            self.maybe_close(slot)
        } else {
            self.send_front(slot)
        }
    }
}

fn buffer_count(buf: usize) -> u16 {
    // About 8 MiB of receive buffers whatever their size.
    let n = ((8usize << 20) / buf).clamp(64, 4096);
    (1usize << (usize::BITS - 1 - n.leading_zeros())) as u16
}

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let listener = bind_listener(args.addr, 1024, false)?;
    let slots = raise_nofile(65536).clamp(1024, 65536) as u32;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(16384)
        .build(4096)?;
    ring.submitter().register_files_sparse(slots)?;
    let bufs = BufRing::new(&ring.submitter(), buffer_count(args.buf), args.buf, BGID)?;
    let (mut submitter, sq, mut cq) = ring.split();
    let _ = submitter.register_ring_fd();
    let mut s = Server {
        sq,
        submitter,
        bufs,
        conns: Vec::new(),
        starved: Vec::new(),
        recycled: 0,
    };
    let accept = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .allocate_file_index(true)
        .build()
        .user_data(ud(0, OP_ACCEPT));
    s.push(accept.clone())?;
    announce_ready("uring", local_addr(listener.as_raw_fd())?);

    loop {
        s.sq.sync();
        if let Err(e) = s.submitter.submit_and_wait(1) {
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::ETIME) => {}
                _ => return Err(e),
            }
        }
        s.sq.sync();
        cq.sync();
        for cqe in &mut cq {
            let data = cqe.user_data();
            let slot = (data >> 8) as usize;
            let (res, flags) = (cqe.result(), cqe.flags());
            match data & 0xff {
                OP_ACCEPT => {
                    if res >= 0 {
                        let slot = res as usize;
                        if s.conns.len() <= slot {
                            s.conns.resize_with(slot + 1, Conn::default);
                        }
                        s.conns[slot] = Conn {
                            queue: std::mem::take(&mut s.conns[slot].queue),
                            ..Conn::default()
                        };
                        s.arm_recv(slot)?;
                    }
                    if !cqueue::more(flags) {
                        s.push(accept.clone())?;
                    }
                }
                OP_RECV => s.on_recv(slot, res, flags)?,
                OP_SEND => s.on_send(slot, res)?,
                _ => {} // close / shutdown: nothing to do
            }
        }
        // Release the consumed entries before the next io_uring_enter (a
        // stale CQ head would make it return at once: a silent busy loop).
        cq.sync();
        s.bufs.publish();
        if s.recycled > 0 && !s.starved.is_empty() {
            for slot in std::mem::take(&mut s.starved) {
                let c = &s.conns[slot];
                if !c.aborted && !c.eof && !c.recv_live {
                    s.arm_recv(slot)?;
                }
            }
        }
        s.recycled = 0;
    }
}
