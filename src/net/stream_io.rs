//! The I/O methods every stream socket type has (`TcpStream`,
//! `UnixStream`, `DirectTcpStream`), written once. Each type has a `socket:
//! Socket` field; the methods delegate to it.

macro_rules! stream_io_methods {
    ($ty:ident) => {
        impl $ty {
            /// Reads into `buf` (up to its capacity); returns the count and
            /// the buffer. 0 means the peer shut its side down (or `buf` has
            /// no room).
            pub async fn read<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> (std::io::Result<usize>, B) {
                self.socket.read(buf).await
            }

            /// Fills `buf` to its capacity, or fails with `UnexpectedEof`.
            pub async fn read_exact<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> (std::io::Result<()>, B) {
                $crate::io::read_exact(self, buf).await
            }

            /// Writes some of `buf`'s bytes; returns the count and the buffer.
            pub fn write<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)> {
                self.socket.write(buf)
            }

            /// Writes all of `buf`, looping over short writes.
            pub fn write_all<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = (std::io::Result<()>, B)> {
                $crate::io::write_all(self, buf)
            }

            /// A writer whose writes return once the send is queued, not
            /// once it is done: one task poll per message instead of two
            /// in a read-write loop. See [`WriteBehind`]($crate::net::WriteBehind).
            pub fn write_behind(&self) -> $crate::net::WriteBehind<'_> {
                $crate::net::WriteBehind::new(&self.socket)
            }

            /// Reads into several buffers, filling them in order.
            pub async fn readv<B: $crate::buf::IoBufMut>(
                &self,
                bufs: Vec<B>,
            ) -> (std::io::Result<usize>, Vec<B>) {
                self.socket.readv(bufs).await
            }

            /// Writes several buffers in order with one operation.
            pub async fn writev<B: $crate::buf::IoBuf>(
                &self,
                bufs: Vec<B>,
            ) -> (std::io::Result<usize>, Vec<B>) {
                self.socket.writev(bufs).await
            }

            /// Receives into buffers picked by the kernel from `ring`, with
            /// one multishot receive: no buffer is tied up while the
            /// connection is idle. See [`RecvStream`]($crate::net::RecvStream).
            ///
            /// Do not mix with `read` on the same stream while the
            /// `RecvStream` is alive: both would take data.
            pub fn recv_multishot(
                &self,
                ring: &$crate::buf::BufRing,
            ) -> $crate::net::RecvStream<'_> {
                $crate::net::RecvStream::new(&self.socket, ring)
            }

            /// Sends everything this stream receives on to `to` (which may
            /// be this same stream, for an echo), until this stream's end
            /// of stream; returns how many bytes.
            ///
            /// The data is received into buffers from `ring` by one
            /// multishot receive, and the driver sends each buffer on as
            /// its completion arrives, one send in flight at a time, in
            /// order. No task is woken per chunk: the driver takes the
            /// receive's completion and submits the send, as a hand-written
            /// io_uring loop does (while the loop is latency-bound, the send
            /// is one nonblocking `send(2)` instead, as for any write: see
            /// `Builder::eager_sends`). The awaiting task runs only when a
            /// chunk has to wait for the send before it, when the receive
            /// must be re-armed (the ring ran dry), and when the stream ends.
            ///
            /// It does not shut down or close `to`.
            ///
            /// ```no_run
            /// # async fn echo(stream: ringloop::net::TcpStream, pool: ringloop::buf::BufRing) -> std::io::Result<()> {
            /// let echoed = stream.forward_to(&pool, &stream).await?;
            /// println!("echoed {echoed} bytes");
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// Dropping the future stops forwarding: the receive and a
            /// send in flight are cancelled, and data received but not yet
            /// sent is dropped (its buffers go back to `ring`).
            ///
            /// # Errors
            ///
            /// The first receive error on this stream or send error on
            /// `to` (e.g. `ConnectionReset`, `BrokenPipe`), with the
            /// kernel's errno; `InvalidInput` if `ring` was built in
            /// another runtime, or if the forward, first polled in one
            /// runtime, is polled while another one runs (it then ends);
            /// an error if no runtime is running.
            pub fn forward_to<'a>(
                &'a self,
                ring: &$crate::buf::BufRing,
                to: &Self,
            ) -> impl std::future::Future<Output = std::io::Result<u64>> + 'a {
                $crate::net::forward::ForwardTo::new(&self.socket, ring, &to.socket)
            }

            /// Reads like `read`, bounded by `timeout` through a kernel
            /// timeout linked to the receive (`IORING_OP_LINK_TIMEOUT`): one
            /// SQE pair, and no timer to wake when the data comes first.
            ///
            /// # Errors
            ///
            /// `TimedOut` if no data came within `timeout`; `InvalidInput`
            /// if the read, first polled in one runtime, is polled while
            /// another runtime runs (its deadline is the first ring's: it
            /// is cancelled there, with no data taken); otherwise as
            /// `read`.
            pub async fn read_timeout<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
                timeout: std::time::Duration,
            ) -> (std::io::Result<usize>, B) {
                self.socket.read_timeout(buf, timeout).await
            }

            /// Writes like `write`, bounded by a linked kernel timeout.
            ///
            /// # Errors
            ///
            /// `TimedOut` if the peer took nothing within `timeout`.
            pub async fn write_timeout<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
                timeout: std::time::Duration,
            ) -> (std::io::Result<usize>, B) {
                self.socket.write_timeout(buf, timeout).await
            }

            /// Writes with `IORING_OP_SEND_ZC` (Linux 6.0): the kernel sends
            /// straight from `buf` instead of copying it, and hands it back
            /// only once the network stack is done with it. Worth it for large
            /// buffers (tens of KiB) on real NICs; on loopback the kernel
            /// copies anyway.
            ///
            /// Dropping the future cancels the send; the buffer is still
            /// freed only after the notification, which waits until the
            /// data the kernel queued has been sent (on TCP, until the
            /// peer has room for it). The stream can be dropped meanwhile:
            /// its socket is closed then (queued data is still delivered).
            ///
            /// # Errors
            ///
            /// As for `write`; `EINVAL` on kernels without SEND_ZC.
            pub async fn write_zc<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> (std::io::Result<usize>, B) {
                self.socket.write_zc(buf).await
            }

            /// Reads into a registered buffer (see
            /// [`FixedBufRegistry`]($crate::buf::FixedBufRegistry)).
            pub async fn read_fixed(
                &self,
                buf: $crate::buf::FixedBuf,
            ) -> (std::io::Result<usize>, $crate::buf::FixedBuf) {
                self.socket.read_fixed(buf).await
            }

            /// Writes a registered buffer's bytes.
            ///
            /// Unlike the other writes, which send with `MSG_NOSIGNAL`,
            /// this is an `IORING_OP_WRITE_FIXED`, which has no such flag:
            /// to a peer that has gone away it fails with `EPIPE` *and*
            /// raises SIGPIPE, which ends a process that does not ignore
            /// it (Rust programs ignore it by default).
            pub async fn write_fixed(
                &self,
                buf: $crate::buf::FixedBuf,
            ) -> (std::io::Result<usize>, $crate::buf::FixedBuf) {
                self.socket.write_fixed(buf).await
            }

            /// Shuts down the read side, the write side (the peer reads end
            /// of stream) or both.
            ///
            /// # Errors
            ///
            /// `NotConnected` when the connection is gone.
            pub async fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.socket.shutdown(how).await
            }

            /// Closes the connection and reports the kernel's result.
            ///
            /// # Errors
            ///
            /// The error `close(2)` returned.
            pub async fn close(self) -> std::io::Result<()> {
                self.socket.fd.close().await
            }
        }

        impl $crate::io::AsyncReadOwned for $ty {
            async fn read<B: $crate::buf::IoBufMut>(&self, buf: B) -> (std::io::Result<usize>, B) {
                self.socket.read(buf).await
            }
        }

        impl $crate::io::AsyncWriteOwned for $ty {
            fn write<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)> {
                self.socket.write(buf)
            }
        }
    };
}

pub(crate) use stream_io_methods;
