//! Settling keys shared by several instances on PostgreSQL: each key is leased to one instance at a time,
//! so no two instances ever use one nonce.
//!
//! Every instance runs [`Facilitator::hold_keys`] a few times per lease. It renews its heartbeat and its
//! leases, takes free keys up to its fair share (the chain's keys divided by the live instances, rounded up),
//! and gives back idle keys beyond it, so instances that start one after another end up with the keys spread.
//! A key whose holder died becomes free when its lease runs out; the instance that takes it adopts every
//! settlement the key sent and did not conclude, and its keeper rebroadcasts, replaces or follows them.

use std::collections::HashSet;
use std::time::Instant;

use super::{Facilitator, SentTx, signer_of};
use crate::store::{Stage, StoreError};

/// What one pass of [`Facilitator::hold_keys`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Live instances, this one included.
    pub instances: u64,
    /// Keys this instance holds after the pass.
    pub held: usize,
    /// Keys taken this pass, and settlements adopted with them.
    pub taken: usize,
    /// Settlements adopted from the keys taken.
    pub adopted: usize,
    /// Keys given back this pass.
    pub given_up: usize,
    /// Keys whose lease was lost (this instance was not heard from in time).
    pub lost: usize,
}

impl Facilitator {
    /// One pass over this instance's key leases (PostgreSQL only; with SQLite every key is always held).
    pub async fn hold_keys(&self) -> Result<Held, StoreError> {
        let Some(pg) = self.store.shared() else { return Ok(Held::default()) };
        // The local deadline starts before the renewal, and stops short of the database's, so this instance
        // stops sending from a key before anyone else may take it.
        let until = Instant::now() + pg.lease() * 2 / 3;
        let mut done = Held { instances: pg.heartbeat().await?, ..Held::default() };
        let renewed: HashSet<(u64, String)> = pg.renew().await?.into_iter().collect();
        for chain in self.chains.values() {
            let keys = chain.senders();
            let mut held = Vec::new();
            for sender in keys {
                let lease = (chain.chain_id(), format!("{:#x}", sender.address()));
                if renewed.contains(&lease) {
                    sender.hold_until(until);
                    held.push(sender.clone());
                } else if sender.has_lease() {
                    tracing::error!(chain = chain.chain_id(), key = %sender.address(), "lost the lease of a settling key; another instance takes over what it sent");
                    sender.lose();
                    done.lost += 1;
                }
            }
            let share = keys.len().div_ceil(done.instances.max(1) as usize);
            for sender in keys {
                if held.len() >= share {
                    break;
                }
                if held.iter().any(|h| h.address() == sender.address()) {
                    continue;
                }
                let address = format!("{:#x}", sender.address());
                if !pg.acquire(chain.chain_id(), &address).await? {
                    continue;
                }
                let rows = pg.take_sent(&signer_of(sender)).await?;
                let mut adopted = Vec::new();
                for row in rows {
                    let Stage::Sent { attempts } = row.stage else { continue };
                    match SentTx::read(&attempts) {
                        Ok(sent) if sent.signer == sender.address() && sent.chain_id == chain.chain_id() => {
                            adopted.push((row.key, sent.nonce, sent.signed()));
                        }
                        _ => {
                            tracing::warn!(settlement = %row.key, "a settlement sent from a taken key is unreadable; it is left as sent")
                        }
                    }
                }
                done.adopted += adopted.len();
                sender.take_over(until, adopted);
                if let Err(e) = sender.sync_taken(chain.rpc()).await {
                    tracing::warn!(chain = chain.chain_id(), key = %sender.address(), error = %e, "cannot read a taken key's nonce yet");
                }
                tracing::info!(chain = chain.chain_id(), key = %sender.address(), instances = done.instances, "leased a settling key");
                held.push(sender.clone());
                done.taken += 1;
            }
            while held.len() > share {
                let Some(i) = held.iter().rposition(|s| s.in_flight() == 0) else { break };
                let sender = held.remove(i);
                if sender.let_go_if_idle() {
                    pg.give_up(chain.chain_id(), &format!("{:#x}", sender.address())).await?;
                    tracing::info!(chain = chain.chain_id(), key = %sender.address(), instances = done.instances, "gave a settling key back for another instance");
                    done.given_up += 1;
                } else {
                    held.push(sender);
                    break;
                }
            }
            done.held += held.len();
        }
        pg.reap().await?;
        Ok(done)
    }

    /// Leaves the cluster at shutdown (PostgreSQL only): leases and heartbeat go, so others take over now.
    pub async fn leave(&self) {
        if let Some(pg) = self.store.shared() {
            for chain in self.chains.values() {
                for sender in chain.senders() {
                    sender.lose();
                }
            }
            if let Err(e) = pg.leave().await {
                tracing::warn!(error = %e, "could not give the settling keys back; they free up when their leases run out");
            }
        }
    }
}
