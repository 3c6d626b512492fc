-- Seed 000's transport-management system as the source database: the tables a TMS writes,
-- followed by StreamView through logical replication (source kind postgres_changes).
--
--   psql "$DSN" -v ON_ERROR_STOP=1 -f examples/tms-postgres/schema.sql
--
-- The change feed needs wal_level = logical on the server, a role with REPLICATION, and a
-- primary key on every table (the engine creates the publication and the slot itself, see
-- streamview.yaml). With the default REPLICA IDENTITY (the primary key) a delete carries the
-- key columns only, which is all a view needs to delete its row; updates carry the whole new
-- row. REPLICA IDENTITY FULL is not needed.

CREATE TABLE organizations (
  id   text PRIMARY KEY,                 -- 'org-01'
  name text NOT NULL
);

CREATE TABLE customers (
  id      bigint PRIMARY KEY,
  org_id  text NOT NULL REFERENCES organizations (id),
  code    text NOT NULL,                 -- 'ACME'
  name    text NOT NULL,                 -- 'Acme Corp'
  active  boolean NOT NULL DEFAULT true
);

-- Carriers are shared by every organization (as the seed's carrier codes are).
CREATE TABLE carriers (
  code    text PRIMARY KEY,              -- 'DHLPX'
  name    text NOT NULL,                 -- 'DHL Parcel' (the seed's carrierLabel)
  active  boolean NOT NULL DEFAULT true
);

CREATE TABLE shipments (
  id                  bigint PRIMARY KEY,
  org_id              text NOT NULL REFERENCES organizations (id),
  customer_id         bigint NOT NULL REFERENCES customers (id),
  carrier_code        text NOT NULL REFERENCES carriers (code),
  service             text NOT NULL,     -- 'DFY-B2C'
  reference           text NOT NULL,     -- 'SHP-2026-000001'
  -- Created, Ordered, Confirmed, PickedUp, InTransit, Delivered, Cancelled
  status              text NOT NULL,
  status_at           timestamptz NOT NULL,   -- when the status last changed (lastEvent)
  origin_country      text NOT NULL,
  origin_city         text NOT NULL,
  destination_country text NOT NULL,
  destination_city    text NOT NULL,
  inbound             boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL,
  ordered_at          timestamptz,
  confirmed_at        timestamptz,
  requested_pickup    timestamptz NOT NULL,   -- the pickup slot
  requested_delivery  timestamptz NOT NULL,   -- the SLA's due time
  picked_up_at        timestamptz,
  delivered_at        timestamptz,
  cancelled_at        timestamptz,
  cost                numeric(12, 2),
  currency            text NOT NULL DEFAULT 'EUR',
  weight_kg           numeric(10, 1) NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL
);
CREATE INDEX shipments_org_created ON shipments (org_id, created_at);

-- A shipment's consignments; handling units as a count and a type per consignment (the seed's
-- handlingUnits: {count, totalWeightKg, types}).
CREATE TABLE consignments (
  id               bigint PRIMARY KEY,
  shipment_id      bigint NOT NULL REFERENCES shipments (id),
  org_id           text NOT NULL,
  reference        text NOT NULL,      -- 'CON-000001'
  status           text NOT NULL,
  tracking_number  text,
  handling_units   integer NOT NULL,
  unit_type        text NOT NULL,      -- Parcel, Pallet, Crate
  weight_kg        numeric(10, 1) NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX consignments_shipment ON consignments (shipment_id);

-- Exceptions raised on a shipment (AddressIssue, DeliveryFailed, Damaged, Delayed, Customs).
CREATE TABLE shipment_exceptions (
  id           bigint PRIMARY KEY,
  shipment_id  bigint NOT NULL REFERENCES shipments (id),
  org_id       text NOT NULL,
  type         text NOT NULL,
  at           timestamptz NOT NULL,
  resolved_at  timestamptz
);
CREATE INDEX shipment_exceptions_shipment ON shipment_exceptions (shipment_id);
