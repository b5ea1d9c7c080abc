//! Named sub-patterns (`%DROP%`, `%SECRET%`, `%AGENT_CONTEXT%`, …) that rule patterns are written
//! with; [`super::compile`] expands them, and fragments may use other fragments.

pub(super) const FRAGMENTS: &[(&str, &str)] = &[
    // Any character, line breaks included, but not a paragraph break.
    ("%ANY%", r"[^\x{2029}]"),
    // Any character within one sentence.
    ("%SENT%", r"[^.!?\n\x{2029}]"),
    // Verbs that drop instructions.
    (
        "%DROP%",
        concat!(
            r"(?:ignore|disregard|forget|set aside|throw out|discard|abandon|pay no attention to",
            r"|stop following|stop obeying|do not follow|don't follow|do not obey|don't obey|no longer follow",
            r"|no longer obey|cease following|do not adhere to|don't adhere to)",
        ),
    ),
    // Words that may sit between the verb and the noun.
    (
        "%FILL%",
        concat!(
            r"(?:all|any|every|each|of|the|your|these|those|such|and|or|other|safety|system|developer|current",
            r"|earlier|above|prior|previous|original|initial|preceding|former|foregoing|old|hidden|ai's",
            r"|assistant's|model's|openai|anthropic|content|given|programmed|built-in|existing|standing",
            r"|default|above-mentioned|aforementioned|first|preset|pre-set|core|base|internal|ethical)",
        ),
    ),
    (
        "%QUAL%",
        concat!(
            r"(?:all|any|every|your|previous|prior|preceding|above|earlier|former|foregoing|original|initial",
            r"|system|developer|safety|programmed|built-in|aforementioned|above-mentioned|preset|pre-set",
            r"|hidden|internal|core)",
        ),
    ),
    (
        "%STRONGQUAL%",
        concat!(
            r"(?:your|previous|prior|preceding|earlier|original|initial|system|safety|developer|programmed",
            r"|built-in|internal|core)",
        ),
    ),
    (
        "%INSTR%",
        concat!(
            r"(?:instructions?|instruction set|directives?|directions|guidelines|guidance|prompts?",
            r"|system prompt|system message|programming|training|guardrails|conditioning|ethics|morals",
            r"|safeguards|content polic(?:y|ies)",
            r"|safety (?:rules|guidelines|measures|protocols|filters|settings))",
        ),
    ),
    (
        "%RULES%",
        r"(?:rules|rule set|restrictions|limitations|constraints|filters|policies|policy|principles|orders|commands)",
    ),
    // A secret, as an attacker names it.
    (
        "%SECRET%",
        concat!(
            r"(?:api[ _-]?keys?|api[ _-]?tokens?|access[ _-]?tokens?|auth(?:entication)?[ _-]?tokens?",
            r"|bearer tokens?|session (?:tokens?|cookies?|ids?)|tokens?|passwords?|passwd|passphrases?",
            r"|secrets?|secret[ _-]?keys?|credentials?|creds|ssh[ _-]?(?:private[ _-]?)?keys?",
            r"|private[ _-]?keys?|id_rsa|id_ed25519|\.env(?: files?)?",
            r"|env(?:ironment)?[ _-]?(?:files?|variables?|vars)|vault(?: contents| entries| keys| secrets)?",
            r"|cookies|aws[ _-]?(?:secret[ _-]?)?(?:access[ _-]?)?keys?|keychain|seed phrases?|mnemonics?",
            r"|wallet (?:keys?|seeds?)|recovery codes?|2fa codes?|one-time (?:codes?|passwords?))",
        ),
    ),
    // A secret that belongs to the victim (so "the client sends the token to the server" is not one).
    (
        "%OWNED_SECRET%",
        concat!(
            r"(?:(?:your|the user's|the users'|user's|their|his|her",
            r"|all(?: of)?(?: the)?(?: user's| your| their)?|any|every|each|stored|saved|cached",
            r"|local)(?: [a-z0-9_.-]+){0,2}? %SECRET%",
            r"|(?:the )?contents? of (?:the |your )?\S*(?:\.env|id_rsa|id_ed25519|\.ssh|credentials|\.aws",
            r"|\.netrc|\.npmrc|\.pypirc|vault|secrets?)\S*",
            r"|(?:~|\$home|/home/[^/\s]+|/root|/users/[^/\s]+)?/\.(?:ssh|aws|gnupg|kube|docker)/\S*",
            r"|\S*\b(?:id_rsa|id_ed25519|id_ecdsa)\b|(?:~/|\$home/)?\.(?:netrc|git-credentials|pgpass)\b",
            r"|(?:^|[\s`'(])\.env\b|/etc/passwd|/etc/shadow",
            r"|(?:the )?%SECRET% (?:from|in|stored in|inside|found in|under) (?:the |your )?(?:vault|\.env",
            r"|environment|env|config|keychain|memory|~/|\$home))",
        ),
    ),
    // Where data goes.
    (
        "%DEST%",
        concat!(
            r"(?:https?://|ftp://|wss?://|[a-z0-9._+-]+@[a-z0-9-]+\.[a-z0-9.-]+",
            r"|(?:this|that|the following|the below|my|an?)(?: external| remote| attacker| backup| secure",
            r"| personal)? (?:url|endpoint|webhook|server|address|link|e-?mail(?: address)?|domain|pastebin",
            r"|gist|discord|telegram|ip))",
        ),
    ),
    // What a fake role header is followed by.
    (
        "%FOLLOW%",
        concat!(
            r"(?:you (?:are|'re) (?:now )?(?:an?|the) (?:[a-z-]+ ){0,3}?(?:ai|assistant|model|chatbot|bot",
            r"|agent|llm|language model|system)\b",
            r"|you (?:are|'re) (?:now )?(?:dan|chatgpt|claude|gpt|free|unrestricted|unfiltered|no longer",
            r"|in (?:developer|dan|god|jailbreak|unrestricted) mode)\b",
            r"|you (?:must|will|shall|should|have to) (?:now |always |never |only )?(?:ignore|disregard|obey",
            r"|comply|forget|reveal|follow (?:these|the new|only|my)|respond|answer|act)",
            r"|your (?:new |real |true |only |primary |actual |updated )?(?:instructions|task|goal|role",
            r"|purpose|directive|objective|mission) (?:is|are|has|have)|ignore|disregard|forget|override",
            r"|new (?:instructions|rules|task|directive|system prompt)",
            r"|the (?:assistant|ai|model) (?:must|should|will|is now|has been)|from now on",
            r"|do not (?:tell|reveal|inform|mention|disclose)",
            r"|(?:important|urgent|priority|critical|security) (?:update|override|notice|instruction)",
            r"|(?:important|urgent|critical)\s*[:!])",
        ),
    ),
    // Text that talks to an AI, or asks for stealth.
    (
        "%AGENT_CONTEXT%",
        concat!(
            r"(?:\b(?:ai|llm|assistant|agent|chatbot|gpt|chatgpt|claude|copilot|gemini)s?\s*,",
            r"|\b(?:ai|llm|ai assistant|ai agent|ai model|coding agent)s?\s*:",
            r"|\bas an? (?:ai|assistant|agent|llm|language model)\b",
            r"|\b(?:dear|attention|note to|hey|hello|hi) (?:the )?(?:ai|assistant|agent|llm|model|chatbot)s?\b",
            r"|\bif you(?:'re| are) an? (?:ai|llm|language model|assistant|agent)\b",
            r"|without (?:asking|telling|notifying|informing|confirm(?:ing|ation)?|approval|permission",
            r"|user (?:approval|confirmation|consent))",
            r"|\bdo(?:n't| not) (?:tell|ask|inform|notify|mention|confirm with|show|alert",
            r"|warn) (?:the )?(?:user|human|anyone|them|owner|operator)",
            r"|\b(?:silently|secretly|quietly|covertly)\b",
            r"|\b(?:run|execute) (?:it|this|the (?:command|script)) (?:immediately|now|right away)",
            r"|\bbefore (?:responding|answering|replying|summari[sz]ing",
            r"|you (?:respond|answer|reply|continue|summari[sz]e)))",
        ),
    ),
];
