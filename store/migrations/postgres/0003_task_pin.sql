-- A task handed to one node (store.Tx.PinTask): until pin_until (real
-- time) only that node's runners claim it.
ALTER TABLE tasks ADD COLUMN pin_node text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN pin_until timestamptz;
