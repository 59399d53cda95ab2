//! The console's own words, in Chinese for a Chinese site and in English otherwise (see
//! `render::words` for the public pages').

/// Every fixed text of the console, in one language.
pub(super) struct ConsoleLabels {
    pub chinese: bool,
    pub console: &'static str,
    pub overview: &'static str,
    pub add_endpoint: &'static str,
    pub log_in: &'static str,
    pub log_out: &'static str,
    pub token: &'static str,
    pub login_hint: &'static str,
    pub wrong_token: &'static str,
    pub too_many_logins: &'static str,
    pub logged_out: &'static str,
    pub log_in_first: &'static str,
    pub refused_form: &'static str,
    pub nothing_here: &'static str,
    pub back_to_overview: &'static str,

    pub queue: &'static str,
    /// Due, in flight, scheduled, failed, delivered, the oldest due.
    pub queue_columns: [&'static str; 6],
    pub oldest_due_hint: &'static str,
    pub endpoints: &'static str,
    pub endpoint_columns: [&'static str; 5],
    pub no_endpoints: &'static str,
    pub healthy: &'static str,
    pub failing: &'static str,
    pub disabled: &'static str,
    pub subscriptions: &'static str,
    pub subscription_columns: [&'static str; 7],
    pub no_subscriptions: &'static str,
    pub sources: &'static str,
    pub source_columns: [&'static str; 8],
    pub no_sources: &'static str,
    pub running: &'static str,
    pub sections: &'static str,
    pub whole_site: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub never: &'static str,

    /// URL, description, kind, event types, sections, rate limit, state, last success, failing
    /// since, disabled from, created, updated.
    /// … and the message template.
    pub endpoint_fields: [&'static str; 13],
    pub default_template: &'static str,
    pub own_template: &'static str,
    pub every_type: &'static str,
    pub every_section: &'static str,
    pub unlimited: &'static str,
    /// A robot's default rate limit.
    pub robot_rate: &'static str,
    pub per_second: &'static str,
    /// Standard Webhooks, then the robots: WeCom, DingTalk, Feishu.
    pub kinds: [&'static str; 4],
    pub actions: &'static str,
    pub enable: &'static str,
    pub disable: &'static str,
    pub send_test: &'static str,
    pub rotate_secret: &'static str,
    pub rotate_hint: &'static str,
    pub recover: &'static str,
    pub recover_since: &'static str,
    pub recover_hint: &'static str,
    pub deliveries: &'static str,
    /// Of a delivery: its id, type, status, attempts, creation, next attempt.
    pub delivery_columns: [&'static str; 6],
    /// What the receiver sees as `webhook-id`.
    pub message_id: &'static str,
    pub attempt_columns: [&'static str; 5],
    pub no_deliveries: &'static str,
    pub no_attempts: &'static str,
    pub resend: &'static str,
    pub older: &'static str,
    pub newest: &'static str,

    pub new_secret: &'static str,
    pub secret_once: &'static str,
    pub previous_secret_until: &'static str,
    pub to_the_endpoint: &'static str,

    /// URL, description, kind, event types, sections, rate limit, the robot's secret, the
    /// message template.
    pub form_fields: [&'static str; 8],
    pub form_hints: [&'static str; 8],
    pub create: &'static str,
    pub preview: &'static str,
    pub message_preview: &'static str,
    pub robot_preview_hint: &'static str,
    pub standard_preview: &'static str,
    pub template_example: &'static str,
    pub not_created: &'static str,
    pub known_sections: &'static str,

    pub latest_events: &'static str,
    pub latest_events_hint: &'static str,
    pub no_events: &'static str,

    pub articles: &'static str,
    pub article_columns: [&'static str; 4],
    pub deleted_articles: &'static str,
    pub no_articles_here: &'static str,
    pub subsections: &'static str,
    pub older_articles: &'static str,
}

impl ConsoleLabels {
    pub fn for_language(language: &str) -> Self {
        if super::super::words::Labels::for_language(language).chinese {
            Self::CHINESE
        } else {
            Self::ENGLISH
        }
    }

    const CHINESE: Self = Self {
        chinese: true,
        console: "运维控制台",
        overview: "概览",
        add_endpoint: "添加端点",
        log_in: "登录",
        log_out: "退出",
        token: "管理令牌",
        login_hint: "请用具有 admin 权限的 API 令牌登录。",
        wrong_token: "令牌错误，或该令牌没有 admin 权限。",
        too_many_logins: "登录失败次数过多，请稍后再试。",
        logged_out: "已退出。",
        log_in_first: "请先登录控制台。",
        refused_form: "请求被拒绝：表单已失效，或来自其他网站。请返回并刷新页面后重试。",
        nothing_here: "没有这个页面。",
        back_to_overview: "返回概览",

        queue: "投递队列",
        queue_columns: [
            "待发送",
            "发送中",
            "等待重试",
            "已失败",
            "已送达",
            "最久等待",
        ],
        oldest_due_hint: "“最久等待”：此刻可以发送的投递中，等得最久的一条已等待的时间。",
        endpoints: "Webhook 端点",
        endpoint_columns: ["端点", "状态", "上次成功", "连续失败始于", "停用原因"],
        no_endpoints: "还没有端点。",
        healthy: "正常",
        failing: "失败中",
        disabled: "已停用",
        subscriptions: "WebSub 订阅",
        subscription_columns: [
            "主题",
            "回调地址",
            "状态",
            "租约到期",
            "签名",
            "最近投递",
            "上次成功",
        ],
        no_subscriptions: "还没有订阅。",
        sources: "采集来源",
        source_columns: [
            "名称",
            "地址",
            "上次抓取",
            "结果",
            "连续失败始于",
            "已采集文章",
            "下次运行",
            "WebSub 订阅",
        ],
        no_sources: "没有配置采集来源。",
        running: "运行中",
        sections: "栏目",
        whole_site: "全站",
        yes: "是",
        no: "否",
        never: "从未",

        endpoint_fields: [
            "地址",
            "说明",
            "类型",
            "事件类型",
            "栏目",
            "速率限制",
            "状态",
            "上次成功",
            "连续失败始于",
            "将停用于",
            "创建于",
            "更新于",
            "消息模板",
        ],
        default_template: "该类型的默认消息",
        own_template: "自定义模板",
        every_type: "全部事件",
        every_section: "全部栏目",
        unlimited: "不限",
        robot_rate: "每分钟 20 条（机器人的默认值，超出的合并为一条摘要）",
        per_second: "次/秒",
        kinds: [
            "标准 Webhook（Standard Webhooks）",
            "企业微信群机器人",
            "钉钉自定义机器人",
            "飞书自定义机器人",
        ],
        actions: "操作",
        enable: "启用",
        disable: "停用",
        send_test: "发送测试消息",
        rotate_secret: "更换密钥",
        rotate_hint: "新密钥只显示一次；旧密钥在宽限期内继续一同签名。",
        recover: "重新排队失败的投递",
        recover_since: "创建于此时之后",
        recover_hint: "按站点时区填写，或填写带时区的 RFC 3339 时间。",
        deliveries: "最近投递",
        delivery_columns: ["投递", "消息类型", "状态", "尝试次数", "创建于", "下次尝试"],
        message_id: "webhook-id：",
        attempt_columns: ["时间", "状态码", "耗时", "错误", "响应摘录"],
        no_deliveries: "还没有投递。",
        no_attempts: "尚未尝试。",
        resend: "重发",
        older: "更早的投递 ›",
        newest: "‹ 最新的投递",

        new_secret: "新密钥",
        secret_once: "请立即保存：密钥只显示这一次，之后无法再次查看。",
        previous_secret_until: "旧密钥继续签名至",
        to_the_endpoint: "前往端点页面",

        form_fields: [
            "地址（URL）",
            "说明",
            "类型",
            "事件类型",
            "栏目",
            "速率限制",
            "机器人的签名密钥",
            "消息模板",
        ],
        form_hints: [
            "http 或 https，不能指向内网地址。机器人填写其完整的 Webhook 地址（含 key 或 access_token）。",
            "最多 500 字。",
            "机器人收到其自身格式的消息，默认只接收新发布的文章。",
            "不选则接收全部事件（机器人：仅新发布）。",
            "栏目路径，以空格或逗号分隔；包含其下级栏目。留空则全部栏目。",
            "每秒投递数（0.001 至 10000）；留空则不限（机器人默认每分钟 20 条，超出的合并为一条摘要）。",
            "钉钉（加签，SEC 开头）或飞书（签名校验）的密钥；未开启签名或企业微信则留空。",
            "可选：MiniJinja 模板，输出机器人的 JSON 消息；留空则用默认消息。",
        ],
        create: "添加",
        preview: "预览消息",
        message_preview: "消息预览",
        robot_preview_hint: "新文章发布时机器人收到的消息（以示例文章为例，签名前）：",
        standard_preview: "标准端点以 Standard Webhooks JSON 接收每个事件（type、timestamp、data.article），并以添加后显示的密钥签名。",
        template_example: r#"{"msgtype":"markdown","markdown":{"content":"**{{ title }}**\n{{ meta }}\n[阅读全文]({{ url }})"}}"#,
        not_created: "未能添加：",
        known_sections: "可用的栏目路径",

        latest_events: "最新事件",
        latest_events_hint: "文章的发布、更新和删除，最新在前；打开本页时实时追加。",
        no_events: "还没有事件。",

        articles: "文章",
        article_columns: ["文章", "版本", "发布时间", "事件（最新在前）"],
        deleted_articles: "已删除的文章",
        no_articles_here: "这个栏目还没有文章。",
        subsections: "下级栏目",
        older_articles: "更早的文章 ›",
    };

    const ENGLISH: Self = Self {
        chinese: false,
        console: "Operator's console",
        overview: "Overview",
        add_endpoint: "Add an endpoint",
        log_in: "Log in",
        log_out: "Log out",
        token: "Admin token",
        login_hint: "Log in with an API token that has the admin scope.",
        wrong_token: "Wrong token, or a token without the admin scope.",
        too_many_logins: "Too many failed logins; try again later.",
        logged_out: "Logged out.",
        log_in_first: "Log in to the console first.",
        refused_form: "Refused: the form is stale or came from another site. Go back, reload \
                       the page and try again.",
        nothing_here: "Nothing here.",
        back_to_overview: "Back to the overview",

        queue: "Delivery queue",
        queue_columns: [
            "Due",
            "In flight",
            "Waiting to retry",
            "Failed",
            "Delivered",
            "Longest wait",
        ],
        oldest_due_hint: "Longest wait: how long the oldest delivery that could be sent now has \
                          been waiting.",
        endpoints: "Webhook endpoints",
        endpoint_columns: [
            "Endpoint",
            "State",
            "Last success",
            "Failing since",
            "Disabled because",
        ],
        no_endpoints: "No endpoints yet.",
        healthy: "healthy",
        failing: "failing",
        disabled: "disabled",
        subscriptions: "WebSub subscriptions",
        subscription_columns: [
            "Topic",
            "Callback",
            "State",
            "Lease ends",
            "Signed",
            "Latest delivery",
            "Last success",
        ],
        no_subscriptions: "No subscriptions yet.",
        sources: "Sources",
        source_columns: [
            "Name",
            "Address",
            "Last fetch",
            "Outcome",
            "Failing since",
            "Articles taken",
            "Next run",
            "WebSub subscription",
        ],
        no_sources: "No sources are configured.",
        running: "running",
        sections: "Sections",
        whole_site: "All sections",
        yes: "yes",
        no: "no",
        never: "never",

        endpoint_fields: [
            "URL",
            "Description",
            "Kind",
            "Event types",
            "Sections",
            "Rate limit",
            "State",
            "Last success",
            "Failing since",
            "Disabled from",
            "Created",
            "Updated",
            "Message template",
        ],
        default_template: "The kind's default message",
        own_template: "Its own template",
        every_type: "every event",
        every_section: "every section",
        unlimited: "unlimited",
        robot_rate: "20 a minute (a robot's default; more are coalesced into one digest)",
        per_second: "per second",
        kinds: [
            "Standard Webhooks",
            "WeCom group robot",
            "DingTalk custom robot",
            "Feishu custom bot",
        ],
        actions: "Actions",
        enable: "Enable",
        disable: "Disable",
        send_test: "Send a test message",
        rotate_secret: "Rotate the secret",
        rotate_hint: "The new secret is shown once; the old one keeps signing beside it for the \
                      grace period.",
        recover: "Re-queue failed deliveries",
        recover_since: "created since",
        recover_hint: "In the site's time zone, or an RFC 3339 time with its offset.",
        deliveries: "Recent deliveries",
        delivery_columns: [
            "Delivery",
            "Message type",
            "Status",
            "Attempts",
            "Created",
            "Next attempt",
        ],
        message_id: "webhook-id:",
        attempt_columns: ["Time", "Status", "Took", "Error", "Answer"],
        no_deliveries: "No deliveries yet.",
        no_attempts: "Not tried yet.",
        resend: "Resend",
        older: "Older deliveries ›",
        newest: "‹ Newest deliveries",

        new_secret: "The new secret",
        secret_once: "Keep it now: it is shown only this once and cannot be seen again.",
        previous_secret_until: "The old secret keeps signing until",
        to_the_endpoint: "Go to the endpoint",

        form_fields: [
            "URL",
            "Description",
            "Kind",
            "Event types",
            "Sections",
            "Rate limit",
            "The robot's signing secret",
            "Message template",
        ],
        form_hints: [
            "http or https, to a public address. A robot: its whole webhook URL, with its key \
             or access_token.",
            "At most 500 characters.",
            "A robot receives messages in its own format, and by default new articles only.",
            "None ticked: every event (a robot: new articles).",
            "Section paths, separated by spaces or commas; each includes its subsections. \
             Empty: every section.",
            "Deliveries per second (0.001 to 10000); empty: unlimited (a robot: 20 a minute, \
             more coalesced into one digest).",
            "DingTalk's signing secret (SEC…) or Feishu's; empty when the robot checks no \
             signature, and for WeCom.",
            "Optional: a MiniJinja template that writes the robot's JSON message; empty: the \
             default message.",
        ],
        create: "Add",
        preview: "Preview the message",
        message_preview: "Message preview",
        robot_preview_hint: "What the robot receives when an article is published, shown with a \
             sample article (before signing):",
        standard_preview: "A standard endpoint receives each event as Standard Webhooks JSON \
             (type, timestamp, data.article), signed with the secret shown once it is added.",
        template_example: r#"{"msgtype":"markdown","markdown":{"content":"**{{ title }}**\n{{ meta }}\n[Read]({{ url }})"}}"#,
        not_created: "Not added:",
        known_sections: "Section paths",

        latest_events: "Latest events",
        latest_events_hint: "Articles published, updated and deleted, the newest first; added \
             as they happen while this page is open.",
        no_events: "No events yet.",

        articles: "Articles",
        article_columns: ["Article", "Version", "Published", "Events (newest first)"],
        deleted_articles: "Deleted articles",
        no_articles_here: "No articles in this section yet.",
        subsections: "Subsections",
        older_articles: "Older articles ›",
    };

    /// A delivery's status, as stored (`pending`, `delivered`, `failed`).
    pub fn status(&self, status: &str) -> &'static str {
        match (self.chinese, status) {
            (true, "pending") => "待发送",
            (true, "delivered") => "已送达",
            (true, "failed") => "已失败",
            (true, "active") => "有效",
            (true, "expired") => "已过期",
            (false, "pending") => "pending",
            (false, "delivered") => "delivered",
            (false, "failed") => "failed",
            (false, "active") => "active",
            (false, "expired") => "expired",
            _ => "?",
        }
    }

    /// More endpoints than the overview lists.
    pub fn more_endpoints(&self, hidden: usize) -> String {
        if self.chinese {
            format!("另有 {hidden} 个端点未列出（完整列表见 GET /api/v1/webhooks）。")
        } else {
            format!("{hidden} more endpoints are not listed (GET /api/v1/webhooks has them all).")
        }
    }

    /// More subscriptions than the overview lists.
    pub fn more_subscriptions(&self, shown: usize) -> String {
        if self.chinese {
            format!("仅列出前 {shown} 个（完整列表见 GET /api/v1/websub/subscriptions）。")
        } else {
            format!(
                "Only the first {shown} are listed (GET /api/v1/websub/subscriptions has them all)."
            )
        }
    }

    /// A wait, rounded to its largest unit.
    pub fn wait(&self, secs: f64) -> String {
        let secs = secs.max(0.0).round() as u64;
        let (n, zh, en) = match secs {
            s if s < 120 => (s, "秒", "s"),
            s if s < 2 * 3600 => (s / 60, "分钟", "min"),
            s if s < 2 * 86400 => (s / 3600, "小时", "h"),
            s => (s / 86400, "天", "d"),
        };
        if self.chinese {
            format!("{n} {zh}")
        } else {
            format!("{n} {en}")
        }
    }

    /// How many attempts were made since the delivery was last resent.
    pub fn since_resent(&self, n: u32) -> String {
        if self.chinese {
            format!("（重发后 {n} 次）")
        } else {
            format!("({n} since resent)")
        }
    }

    /// An endpoint kind's name.
    pub fn kind(&self, kind: crate::domain::EndpointKind) -> &'static str {
        use crate::domain::EndpointKind;
        self.kinds[match kind {
            EndpointKind::Standard => 0,
            EndpointKind::WeCom => 1,
            EndpointKind::DingTalk => 2,
            EndpointKind::Feishu => 3,
        }]
    }

    /// What an action did, or why it did not.
    pub fn flash(&self, flash: super::Flash) -> String {
        use super::Flash;
        let text = match (self.chinese, flash) {
            (true, Flash::Created) => "端点已添加。",
            (true, Flash::RobotSecret) => {
                "机器人的密钥由其平台提供：请在平台上更换后，通过 API 修改端点。"
            }
            (true, Flash::Enabled) => "端点已启用，等待中的投递将陆续发送。",
            (true, Flash::Disabled) => "端点已停用；新的投递会排队等待。",
            (true, Flash::TestQueued) => "测试消息已排队。",
            (true, Flash::Resent) => "投递已重新排队。",
            (true, Flash::InFlight) => "这条投递正在发送；请在本次尝试记录后再重发。",
            (true, Flash::NoSuchDelivery) => "没有这条投递。",
            (true, Flash::BadTime) => "时间无法识别。",
            (true, Flash::Recovered(n)) => return format!("已重新排队 {n} 条失败的投递。"),
            (false, Flash::Created) => "The endpoint is added.",
            (false, Flash::RobotSecret) => {
                "A robot's secret is its vendor's: change it there, then update the endpoint \
                 through the API."
            }
            (false, Flash::Enabled) => "Enabled: what waited is being sent.",
            (false, Flash::Disabled) => "Disabled: new deliveries queue and wait.",
            (false, Flash::TestQueued) => "A test message is queued.",
            (false, Flash::Resent) => "The delivery is queued again.",
            (false, Flash::InFlight) => {
                "That delivery is being sent right now; resend it once the attempt is recorded."
            }
            (false, Flash::NoSuchDelivery) => "There is no such delivery.",
            (false, Flash::BadTime) => "That time could not be read.",
            (false, Flash::Recovered(1)) => "1 failed delivery is queued again.",
            (false, Flash::Recovered(n)) => {
                return format!("{n} failed deliveries are queued again.");
            }
        };
        text.to_owned()
    }
}
