//! [`Workers`]: the threads that serve connections, as nginx's worker processes do. Each is a
//! single-threaded Tokio runtime of its own; [`crate::serve_on`] deals accepted connections to
//! them in turn, and a connection is served whole on its worker, so a request's tasks, timers
//! and socket never cross threads (a work-stealing runtime pays for that on every request).
//! What the server runs besides (accepting, reloading routes, writing keys' last use) stays on
//! the runtime that started the workers.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Worker threads, each running one single-threaded runtime until the `Workers` is dropped.
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers, named `keyward-worker-1` and on.
    pub fn start(count: NonZeroUsize) -> std::io::Result<Workers> {
        let mut workers = Vec::with_capacity(count.get());
        for number in 1..=count.get() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("keyward-worker-{number}"))
                .spawn(move || {
                    // Runs the worker's tasks until told to stop; what is left is dropped.
                    let _ = runtime.block_on(stopped);
                })?;
            workers.push(Worker { handle, stop: Some(stop), thread: Some(thread) });
        }
        Ok(Workers { workers, next: AtomicUsize::new(0) })
    }

    /// Runs `task` on the next worker in turn.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        drop(self.workers[turn].handle.spawn(task));
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_dealt_to_each_worker_in_turn_and_run_there() {
        let workers = Workers::start(NonZeroUsize::new(2).unwrap()).unwrap();
        let (sent, received) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let sent = sent.clone();
            workers.spawn(async move {
                tokio::task::yield_now().await;
                let name = std::thread::current().name().map(str::to_owned);
                sent.send(name).unwrap();
            });
        }
        let mut names: Vec<_> = (0..4).map(|_| received.recv().unwrap().unwrap()).collect();
        names.sort();
        assert_eq!(
            names,
            ["keyward-worker-1", "keyward-worker-1", "keyward-worker-2", "keyward-worker-2"]
        );
        drop(workers);
    }
}
