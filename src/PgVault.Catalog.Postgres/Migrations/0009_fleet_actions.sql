-- The fleet's action queue (docs/FLEET.md): an API action (a base backup, an in-place restore) sent to an instance that
-- does not hold the cluster's lease is enqueued here, claimed once by the lease holder (state pending -> claimed, under
-- the lease's epoch), carried out, and its outcome recorded (-> done) for the instance waiting to answer the client.
-- An action not claimed by claim_by is never carried out; the instance that enqueued it marks it abandoned.
CREATE TABLE fleet_actions (
    id          uuid PRIMARY KEY,
    cluster_id  text COLLATE "C" NOT NULL,
    kind        text        NOT NULL,
    payload     text        NOT NULL,
    origin      text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('pending', 'claimed', 'done', 'abandoned')),
    created_at  timestamptz NOT NULL,
    claim_by    timestamptz NOT NULL,
    claimed_by  text,
    epoch       bigint,
    claimed_at  timestamptz,
    outcome     text,
    finished_at timestamptz
);

CREATE INDEX fleet_actions_pending ON fleet_actions (cluster_id, created_at) WHERE state = 'pending';
CREATE INDEX fleet_actions_created ON fleet_actions (created_at);
