//! A server's registry of its connections: one entry per connection, by
//! the connection's id (the one id space of the engine, `shared::next_id`),
//! from the thread that runs its handshake to its teardown, with the groups
//! it is in.
//!
//! Shutdown reads it to cut handshakes and close open connections;
//! broadcasts read it for their recipients; [`Groups`](super::Groups) is
//! the public face of its group half. When a connection is torn down its
//! entry is removed, and with the entry its memberships.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::conn::Conn;
use super::lane::LaneSender;
use super::outbox::Outgoing;
use super::shared::{Registration, Shared};
use super::transport::Transport;

/// What a broadcast needs of a recipient: its send queue and its state.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tx: LaneSender<Outgoing>,
}

/// Where one connection is.
enum Entry {
    /// Handshake in progress: the socket (shared with the connection's
    /// thread, not a second descriptor) so shutdown can cut it.
    Handshaking(Arc<Transport>),
    /// The 101 response is being written: the connection is a WebSocket
    /// from the client's side, so shutdown must not cut it; its thread
    /// closes it with 1001 once open if shutdown has started.
    Upgrading,
    /// Open: it may join groups and receives broadcasts.
    Open(Open),
}

struct Open {
    member: Member,
    /// The groups it is in (each name shared with `State::groups`).
    groups: Vec<Arc<str>>,
    /// Poll mode: the connection itself, which the server owns until it
    /// is torn down (the application only borrows it through events).
    _owned: Option<Arc<Conn>>,
}

#[derive(Default)]
struct State {
    conns: HashMap<u64, Entry>,
    groups: HashMap<Arc<str>, HashMap<u64, Member>>,
}

/// The registry of one server. Every method may be called from any thread.
#[derive(Default)]
pub(crate) struct Registry {
    state: RwLock<State>,
}

/// Why a connection could not join a group.
pub(crate) enum NotOpen {
    /// It is torn down (or not yet open).
    Gone,
    /// It is not a connection of this server.
    Stranger,
}

impl Registry {
    /// Connection `id` is in its handshake on `stream`.
    pub(crate) fn handshaking(&self, id: u64, stream: Arc<Transport>) {
        self.state
            .write()
            .conns
            .insert(id, Entry::Handshaking(stream));
    }

    /// Connection `id`'s 101 is being written: shutdown no longer cuts it.
    /// Its thread takes the socket back (the registry let go of it).
    pub(crate) fn upgrading(&self, id: u64) {
        let previous = self.state.write().conns.insert(id, Entry::Upgrading);
        // Dropped outside the lock: it may be the socket's last handle.
        drop(previous);
    }

    /// `conn` completed its handshake: it may join groups and receives
    /// broadcasts until it is torn down. `owned` (poll mode) keeps the
    /// connection alive until then.
    pub(crate) fn open(self: &Arc<Self>, conn: &Conn, owned: Option<Arc<Conn>>) {
        let shared = Arc::clone(conn.shared());
        let weak: Weak<Registry> = Arc::downgrade(self);
        let _ = shared.registration.set(weak);
        let id = shared.id;
        let member = Member {
            shared,
            tx: conn.out_tx().clone(),
        };
        let entry = Entry::Open(Open {
            member,
            groups: Vec::new(),
            _owned: owned,
        });
        self.state.write().conns.insert(id, entry);
    }

    /// Forget connection `id` and its memberships (idempotent).
    pub(crate) fn remove(&self, id: u64) {
        let removed = {
            let mut st = self.state.write();
            let State { conns, groups } = &mut *st;
            let removed = conns.remove(&id);
            if let Some(Entry::Open(open)) = &removed {
                for name in &open.groups {
                    remove_member(groups, name, id);
                }
            }
            removed
        };
        // Dropped outside the lock: it may hold the connection's last handle.
        drop(removed);
    }

    /// For shutdown: cut every connection still in its handshake (under
    /// the lock, so one that marks itself `Upgrading` either was cut or is
    /// never cut) and return the open ones, to close.
    pub(crate) fn cut_handshakes(&self) -> Vec<Arc<Shared>> {
        let st = self.state.write();
        st.conns
            .values()
            .filter_map(|e| match e {
                Entry::Handshaking(s) => {
                    let _ = s.tcp().shutdown(Shutdown::Both);
                    None
                }
                Entry::Upgrading => None,
                Entry::Open(open) => Some(Arc::clone(&open.member.shared)),
            })
            .collect()
    }

    /// Add connection `id` to `group` (created if needed); joining twice is
    /// not an error.
    pub(crate) fn join(&self, id: u64, group: &str) -> Result<(), NotOpen> {
        let mut st = self.state.write();
        let State { conns, groups } = &mut *st;
        let open = match conns.get_mut(&id) {
            Some(Entry::Open(open)) => open,
            Some(_) => return Err(NotOpen::Gone),
            None => return Err(NotOpen::Stranger),
        };
        if open.groups.iter().any(|g| &**g == group) {
            return Ok(());
        }
        let name: Arc<str> = match groups.get_key_value(group) {
            Some((name, _)) => Arc::clone(name),
            None => group.into(),
        };
        groups
            .entry(Arc::clone(&name))
            .or_default()
            .insert(id, open.member.clone());
        open.groups.push(name);
        Ok(())
    }

    /// Remove connection `id` from `group`; whether it was a member.
    pub(crate) fn leave(&self, id: u64, group: &str) -> bool {
        let mut st = self.state.write();
        let State { conns, groups } = &mut *st;
        let Some(Entry::Open(open)) = conns.get_mut(&id) else {
            return false;
        };
        let Some(at) = open.groups.iter().position(|g| &**g == group) else {
            return false;
        };
        let name = open.groups.swap_remove(at);
        remove_member(groups, &name, id);
        true
    }

    /// Remove connection `id` from every group; how many it left.
    pub(crate) fn leave_all(&self, id: u64) -> usize {
        let mut st = self.state.write();
        let State { conns, groups } = &mut *st;
        let Some(Entry::Open(open)) = conns.get_mut(&id) else {
            return 0;
        };
        let names = std::mem::take(&mut open.groups);
        for name in &names {
            remove_member(groups, name, id);
        }
        names.len()
    }

    /// Members of `group` (0 if there is no such group).
    pub(crate) fn member_count(&self, group: &str) -> usize {
        self.state.read().groups.get(group).map_or(0, HashMap::len)
    }

    /// The names of every group that has members.
    pub(crate) fn names(&self) -> Vec<String> {
        let st = self.state.read();
        st.groups.keys().map(|g| g.to_string()).collect()
    }

    /// The groups connection `id` is in.
    pub(crate) fn groups_of(&self, id: u64) -> Vec<String> {
        match self.state.read().conns.get(&id) {
            Some(Entry::Open(open)) => open.groups.iter().map(|g| g.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// The open connections (`group`: its members) but `except`, copied
    /// out so that nobody waits on the lock while frames are offered.
    pub(crate) fn recipients(&self, group: Option<&str>, except: Option<u64>) -> Vec<Member> {
        let st = self.state.read();
        let wanted = |id: &u64| Some(*id) != except;
        match group {
            None => st
                .conns
                .iter()
                .filter(|(id, _)| wanted(id))
                .filter_map(|(_, e)| match e {
                    Entry::Open(open) => Some(open.member.clone()),
                    _ => None,
                })
                .collect(),
            Some(g) => st.groups.get(g).map_or_else(Vec::new, |members| {
                members
                    .iter()
                    .filter(|(id, _)| wanted(id))
                    .map(|(_, m)| m.clone())
                    .collect()
            }),
        }
    }

    /// Open connections and groups, for `Debug`.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let st = self.state.read();
        let open = st
            .conns
            .values()
            .filter(|e| matches!(e, Entry::Open(_)))
            .count();
        (open, st.groups.len())
    }

    /// Register `member` as open without a `Conn` (unit tests that play
    /// the writer).
    #[cfg(test)]
    pub(crate) fn open_member(self: &Arc<Self>, member: Member) {
        let weak: Weak<Registry> = Arc::downgrade(self);
        let _ = member.shared.registration.set(weak);
        let id = member.shared.id;
        let entry = Entry::Open(Open {
            member,
            groups: Vec::new(),
            _owned: None,
        });
        self.state.write().conns.insert(id, entry);
    }
}

impl Registration for Registry {
    fn torn_down(&self, id: u64) {
        self.remove(id);
    }
}

fn remove_member(groups: &mut HashMap<Arc<str>, HashMap<u64, Member>>, name: &str, id: u64) {
    if let Some(members) = groups.get_mut(name) {
        members.remove(&id);
        if members.is_empty() {
            groups.remove(name);
        }
    }
}
