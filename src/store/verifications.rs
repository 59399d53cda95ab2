//! WebSub subscription requests waiting for their verification of intent: kept in the store
//! from the `202` on, so that a restart, a stop or the death of an instance loses none. The
//! instance verifying one holds it for a while; released, or past that hold, any instance takes
//! it up again.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError};
use crate::store::PendingVerification;

/// The statements of both engines: `$1`… are the parameters in the order each engine binds.
pub(super) mod sql {
    /// `$1` to `$8`: a [`PendingVerification`](crate::store::PendingVerification)'s fields in
    /// order; `$9` the hold's end; `$10` now.
    pub const ADD: &str = "INSERT INTO websub_verifications (id, mode, topic, callback, secret,
                                   lease_seconds, verify_token, attempts, lease_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

    /// `$1` now, `$2` the hold's end, `$3` how many; `lock` locks the rows it takes
    /// (PostgreSQL's `FOR UPDATE SKIP LOCKED`: two instances never take the same one).
    pub fn take(lock: &str) -> String {
        format!(
            "UPDATE websub_verifications SET lease_until = $2
             WHERE id IN (SELECT id FROM websub_verifications
                          WHERE lease_until IS NULL OR lease_until <= $1
                          ORDER BY created_at LIMIT $3 {lock})
             RETURNING id, mode, topic, callback, secret, lease_seconds, verify_token, attempts"
        )
    }

    /// `$1` the id, `$2` the attempts.
    pub const ATTEMPTED: &str = "UPDATE websub_verifications SET attempts = $2 WHERE id = $1";
    /// `$1` the id.
    pub const RELEASE: &str = "UPDATE websub_verifications SET lease_until = NULL WHERE id = $1";
    /// `$1` the id.
    pub const FINISH: &str = "DELETE FROM websub_verifications WHERE id = $1";
}

impl Store {
    /// Stores an accepted request (its `id` is ignored: a new one is returned), held by this
    /// instance until `hold_until`.
    pub async fn add_verification(
        &self,
        request: &PendingVerification,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let mut request = request.clone();
        request.id = format!("ver_{}", uuid::Uuid::now_v7().simple());
        self.detached(move |b| async move {
            on_backend!(b, s => s.add_verification(&request, now, hold_until).await)?;
            Ok(request.id)
        })
        .await
    }

    /// Takes up to `limit` requests that no instance holds (released, or held past their
    /// time), holding them until `hold_until`.
    pub async fn take_verifications(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingVerification>, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.take_verifications(now, hold_until, limit).await)
        })
        .await
    }

    /// Records that a request's verification has made `attempts` GETs.
    pub async fn verification_attempted(&self, id: &str, attempts: u32) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.detached(move |b| async move {
            on_backend!(b, s => s.verification_attempted(&id, attempts).await)
        })
        .await
    }

    /// Lets any instance take a request up again at once (this one stops).
    pub async fn release_verification(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.detached(
            move |b| async move { on_backend!(b, s => s.release_verification(&id).await) },
        )
        .await
    }

    /// Forgets a request: verified and applied, or given up.
    pub async fn finish_verification(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.detached(move |b| async move { on_backend!(b, s => s.finish_verification(&id).await) })
            .await
    }
}
