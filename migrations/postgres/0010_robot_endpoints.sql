-- Chat robots (WeCom, DingTalk, Feishu) as a kind of webhook endpoint. Existing endpoints
-- stay Standard Webhooks endpoints.
ALTER TABLE webhook_endpoints
    ADD COLUMN kind text NOT NULL DEFAULT 'standard', -- standard / wecom / dingtalk / feishu
    ADD COLUMN template text,                        -- a robot's message template (MiniJinja); NULL = the kind's default
    ADD COLUMN robot_secret text;                    -- a robot's vendor signing secret (DingTalk, Feishu); NULL = unsigned
-- For robots, `secret` holds a generated whsec_ secret that is never shown nor used: the
-- column stays NOT NULL for every kind.
