//! Role-hijack rules: "you are now DAN", unrestricted personas, fake `system:` headers and
//! instruction blocks, chat-template tokens and fake conversation delimiters.

use super::{Rule, rule};
use crate::scan::Category::RoleHijack as Role;

pub(super) static RULES: &[Rule] = &[
    rule(
        "you_are_now",
        Role,
        concat!(
            r"\byou are (?:now|no longer|from now on|henceforth)(?: called| named| known as)? (?:dan\b|stan\b",
            r"|dude\b|an? (?:unrestricted|unfiltered|uncensored|unbound|jailbroken|unlimited|evil|amoral",
            r"|unethical|rogue|liberated|unaligned|different|new|uncontrolled) (?:ai|assistant|model|chatbot",
            r"|llm|bot|language model|entity|persona|system|version)",
            r"|an? (?:ai|assistant|model|chatbot) (?:with no|without|free of",
            r"|that (?:has no|ignores|does not follow))",
            r"|(?:in|running in|operating in) (?:developer|dev|god|dan|jailbreak|jailbroken|admin|debug",
            r"|unrestricted|sudo|root|maintenance|unfiltered) mode",
            r"|free (?:from|of) (?:all |any |your )?(?:rules|restrictions|limits|guidelines|constraints",
            r"|filters)|not (?:bound|restricted|limited) by",
            r"|no longer (?:bound|restricted|limited|an? (?:ai|assistant|language model)|chatgpt|claude)",
            r"|able to do anything|(?:the )?system\b)",
        ),
    ),
    rule(
        "unrestricted_persona",
        Role,
        concat!(
            r"\byou(?:'re| are)(?: now)?%SENT%{0,40}?\ban? (?:[a-z-]+ )?(?:ai|assistant|model|chatbot|llm|bot",
            r"|persona|character)(?: (?:called|named|known as) ['\x22]?[a-z0-9 _-]{1,20}['\x22]?)?(?: that",
            r"| which| who)? (?:has no|with no|without any|without|ignores|disregards|bypasses|breaks",
            r"|is free of|is not bound by|never refuses|does not follow any",
            r"|can do anything)(?: [a-z]+)?(?: (?:rules|restrictions|limits|limitations|filters|guidelines",
            r"|ethics|morals|content polic(?:y|ies)|safety|guardrails|requests?)\b)?",
        ),
    ),
    rule(
        "assistant_mode_switch",
        Role,
        concat!(
            r"\b(?:the |this )?(?:assistant|ai|model|agent|chatbot|bot|llm) (?:is|has been|is now",
            r"|has now been) (?:now )?(?:in|switched to|put in|placed in|running in",
            r"|operating in) (?:maintenance|developer|debug|admin|administrator|god|dan|unrestricted|jailbreak",
            r"|jailbroken|unfiltered|override|test) mode\b",
            r"|\[(?:system|system prompt|instructions|assistant|developer)\]\(#",
        ),
    ),
    rule(
        "jailbreak_persona",
        Role,
        concat!(
            r"\b(?:do anything now\b%SENT%{0,80}?\b(?:you|your|act|pretend|answer|respond|reply)\b",
            r"|\b(?:you|your|act as|pretend|stands for|character)\b%SENT%{0,80}?do anything now|dan mode",
            r"|(?:enable|activate|enter|switch to|entering|enabling) (?:dan|jailbreak|jailbroken|unrestricted",
            r"|god|unfiltered|uncensored|evil) mode",
            r"|(?:chatgpt|gpt|ai|assistant|model|llm|claude)(?: with| in)? developer mode (?:enabled|activated",
            r"|on|output)|jailbreak(?:ed)? mode (?:enabled|activated|on))\b",
        ),
    ),
    rule(
        "act_as_system",
        Role,
        concat!(
            r#"\b(?:act|behave|speak|respond|operate) as (?:if you were |though you were "#,
            r#"|if you are )?(?:the )?(?:system|operating system kernel|root user|superuser"#,
            r#"|your (?:own )?developer|the developer"#,
            r#"|an? (?:unrestricted|unfiltered|uncensored|jailbroken|evil) (?:ai|assistant|model))(?: prompt"#,
            r#"| message| role)?\s*(?:[.,:;!")]|$|\band\b|\bnow\b|\bwith\b|\bfrom\b)"#,
        ),
    ),
    rule(
        "pretend_unrestricted",
        Role,
        concat!(
            r"\b(?:pretend|imagine|act as if|act like|roleplay as|role-play as|behave as if",
            r"|play the role of)(?: that)? (?:you(?: are|'re| were| have| had)?",
            r"|to be) (?:an? )?(?:(?:ai|assistant|model|chatbot|llm|bot|version of yourself) )?(?:unrestricted",
            r"|unfiltered|uncensored|jailbroken|evil|amoral|unethical|rogue|dan\b",
            r"|(?:with )?no (?:restrictions|rules|filters|guidelines|limits|content polic(?:y|ies)|ethical)",
            r"|not bound|free (?:from|of)|without (?:any )?(?:restrictions|rules|filters|guidelines|limits",
            r"|content filters|safety|ethical))",
        ),
    ),
    rule(
        "from_now_on",
        Role,
        concat!(
            r"\b(?:from now on|from this point(?: on| forward)?|henceforth|starting now",
            r"|for the rest of this (?:conversation|session|chat))[,:]? you(?:'re| are| will| shall| must",
            r"| should)? (?:be |act as |respond as |answer as |behave as |reply as |play |become |pretend ",
            r"|roleplay )?(?:an? )?(?:dan\b|unrestricted|unfiltered|uncensored|jailbroken|evil",
            r"|my (?:slave|servant|puppet)|no longer|not an? (?:ai|assistant|language model)|free (?:from|of)",
            r"|ignore|disregard|obey (?:only )?(?:me|my)|only (?:obey|follow|listen to) (?:me|my)",
            r"|answer (?:without|with no)|respond (?:without|with no)",
            r"|have no (?:restrictions|rules|limits|filters|guidelines)|(?:the )?system\b)",
        ),
    ),
    rule(
        "fake_role_header",
        Role,
        concat!(
            r"^[ \t]*(?:#{1,6} ?|\*\*|\[|<|\()?(?:system|system prompt|system message|system note",
            r"|system override|sys|developer|developer message|admin message",
            r"|operator message)(?:\*\*)?\s*[:\]>)]\s*(?:\*\*)?\s*%FOLLOW%",
        ),
    ),
    rule(
        "system_override_header",
        Role,
        concat!(
            r"^[ \t]*(?:#{1,6} ?|\*\*|\[)?(?:system override|admin override|developer override|safety override",
            r"|jailbreak|god mode|root access granted|sudo mode)(?:\*\*|\])?\s*[:!\]]",
        ),
    ),
    rule(
        "fake_instruction_header",
        Role,
        concat!(
            r"^[ \t]*#{1,6} ?(?:system prompt|system message|system instructions|new system prompt",
            r"|developer message|new instructions|admin instructions",
            r"|instructions for (?:the )?(?:ai|assistant|model|llm|agent))\s*:?",
        ),
    ),
    rule(
        "chat_template_token",
        Role,
        concat!(
            r"<\|(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id|begin_of_text",
            r"|assistant|user)\|>|\[/?inst\]|<</?sys>>|<(?:start_of_turn|end_of_turn)>",
            r"|</?(?:system|system_prompt|system-prompt|sysprompt|system_message|developer_message)>",
        ),
    ),
    rule(
        "fake_delimiter",
        Role,
        concat!(
            r"\b(?:end of|beginning of|begin|start of) (?:the )?(?:system prompt|system instructions",
            r"|user input|untrusted (?:content|input|data|text)",
            r"|(?:original|previous) (?:instructions|prompt))\b",
        ),
    ),
    rule(
        "you_are_now_intl",
        Role,
        concat!(
            r"\b(?:tu es|vous etes) (?:maintenant|desormais) (?:dan\b",
            r"|une? (?:ia|assistant|intelligence artificielle) (?:sans|libre|non censure))",
            r"|\b(?:ahora|a partir de ahora) eres (?:dan\b",
            r"|una? (?:ia|asistente|inteligencia artificial) (?:sin|libre))",
            r"|\b(?:du bist|sie sind) (?:jetzt|ab jetzt|nun|ab sofort) (?:dan\b",
            r"|eine? (?:ki|assistent) (?:ohne|frei|uneingeschrankt))",
            r"|(?:你现在是|从现在开始你是|从现在起你是)(?:dan|一个没有(?:任何)?(?:限制|规则))",
        ),
    ),
];
