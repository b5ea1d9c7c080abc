//! Instruction-override rules: "ignore all previous instructions", "new instructions:", "you must
//! now …", attempts to switch off safety rules, and the same phrases in other languages.

use super::{Rule, rule};
use crate::scan::Category::InstructionOverride as Ovr;

pub(super) static RULES: &[Rule] = &[
    rule("ignore_previous_instructions", Ovr, r"\b%DROP%(?: %FILL%){0,4}? %QUAL%(?: %FILL%){0,3}? %INSTR%\b")
        .unless_followed_by(concat!(
            r"\s*,? (?:that |which )?(?:i|we) (?:sent|gave|wrote|mentioned|shared|posted|emailed|left|put",
            r"|attached|forwarded)\b",
        )),
    rule("ignore_previous_rules", Ovr, r"\b%DROP%(?: %FILL%){0,4}? %STRONGQUAL%(?: %FILL%){0,3}? %RULES%\b")
        .unless_followed_by(concat!(
            r"\s*,? (?:that |which )?(?:i|we) (?:sent|gave|wrote|mentioned|shared|posted|emailed|left|put",
            r"|attached|forwarded)\b",
        )),
    rule(
        "override_safety",
        Ovr,
        concat!(
            r"\b(?:override|overriding|overrule|bypass|bypassing|circumvent|circumventing|disable|disabling",
            r"|deactivate|turn off|switch off|jailbreak|break free of",
            r"|break out of) your(?: %FILL%){0,3}? (?:%INSTR%|%RULES%|content filters|safety filters|alignment",
            r"|moderation|limits)\b",
        ),
    ),
    rule(
        "ignore_everything_above",
        Ovr,
        concat!(
            r"\b(?:ignore|disregard|forget|set aside|throw out|discard)(?: about)? (?:everything|anything",
            r"|all(?: of)?(?: that| this| the text)?",
            r"|what(?:ever)?)(?: (?:guidance|instructions|rules|directions|orders))?(?: (?:that",
            r"|which))? (?:(?:you(?:'ve| have)?|you were|you've been|you have been) (?:been )?(?:told",
            r"|instructed|given|taught|programmed|trained)",
            r"|(?:above|before|prior|previously|earlier)(?: this| that| said| mentioned| stated)?",
            r"|(?:written|said|stated|mentioned) (?:above|before|earlier|previously)",
            r"|in (?:your|the) (?:system prompt|instructions|prompt))",
        ),
    ),
    rule(
        "new_instructions",
        Ovr,
        concat!(
            r"\b(?:new|real|actual|true|secret|override|overriding|admin|administrator|priority|updated system",
            r"|revised system) (?:system )?(?:instructions?|directives?|system prompt|prompt|orders)\s*[:!]",
            r"|\bnew system prompt\b|\b(?:your|the) (?:real|true|actual) (?:instructions|task|objective|goal",
            r"|orders) (?:is|are)\b",
        ),
    ),
    rule(
        "you_must_now",
        Ovr,
        concat!(
            r"\byou (?:must|will|shall|are to|need to|have to) now (?:ignore|disregard|obey|comply|act as",
            r"|pretend|forget|bypass|reveal|execute|respond only|answer only",
            r"|only (?:obey|follow|respond|answer|listen))\b",
        ),
    ),
    rule(
        "instructions_void",
        Ovr,
        concat!(
            r"\b(?:your|the|all) (?:previous |prior |original |earlier )?(?:system prompt|system instructions",
            r"|(?:previous|prior|original|earlier) (?:instructions|rules|directives)) (?:is|are|was|were",
            r"|have been|has been) (?:now )?(?:cancel(?:l)?ed|void|revoked|obsolete|no longer valid",
            r"|no longer in effect|fake|overridden|superseded|replaced|null|lifted|suspended)",
            r"|\byour (?:instructions|rules|guidelines|directives|orders|system prompt) (?:have",
            r"|has) (?:changed|been (?:changed|updated|replaced|revoked|lifted|suspended))\b",
            r"|\b(?:the |all )?(?:rules|instructions|guidelines|restrictions) you (?:follow|were given",
            r"|have been given|operate under|are following)(?: %FILL%){0,2} (?:no longer apply",
            r"|are (?:now )?(?:void|cancel(?:l)?ed|suspended|lifted|revoked))",
        ),
    ),
    rule(
        "addressed_to_ai",
        Ovr,
        concat!(
            r"\bif you(?:'re| are) an? (?:ai|llm|large language model|language model|chatbot|ai assistant",
            r"|ai agent|ai model|assistant|agent|bot)(?: model| system| assistant",
            r"| agent)?(?: (?:reading|processing|summari[sz]ing|analy[sz]ing|parsing|reviewing|scanning|seeing",
            r"|tasked with)\b| that is (?:reading|processing|summari[sz]ing)|\s*[,.:!;-])",
            r"|\b(?:note|message|instructions?|attention|notice|reminder|hey|hello|dear)(?: to| for)?(?: all",
            r"| any)?(?: the)? (?:ai|llm|language model|chatbot|ai assistant|ai agent|ai model|gpt|chatgpt",
            r"|claude|gemini|copilot|bots|agents|assistants|ai systems|ai crawlers|ai scrapers",
            r"|automated agents|language models|llms)s?\b(?: reading| processing| summari[sz]ing|\s*[,:!])",
            r"|\bto (?:any|all|every|the) (?:automated |ai |autonomous )(?:assistants?|agents?|systems?",
            r"|models?|tools?|readers?)(?: (?:processing|reading|summari[sz]ing|handling|parsing",
            r"|scanning)%SENT%{0,40})?\s*:",
        ),
    ),
    rule(
        "vocative_to_ai",
        Ovr,
        concat!(
            r"<!--\s*(?:note )?(?:to |for )?(?:copilot|chatgpt|gpt|claude|gemini|llm|llms|ai|ai assistant",
            r"|ai agent|assistant|agent|bot|language model)s?\s*[:,]",
            r"|^[ \t]*(?:copilot|chatgpt|gpt|claude|gemini|llm|ai|ai assistant|ai agent|assistant|agent",
            r"|bot)\s*,\s*(?:please|when|if|you must|you should|you need to|ignore|disregard|forget|from now",
            r"|do not|don't|always|never|make sure)\b",
        ),
    ),
    rule(
        "stop_and_instead",
        Ovr,
        concat!(
            r"\b(?:stop|cease|abort|halt) (?:summari[sz]ing|translating|analy[sz]ing|reading|processing",
            r"|your (?:current )?(?:task|work)",
            r"|what you(?:'re| are) doing)(?: (?:this|the) (?:page|document|email|text",
            r"|article))?\s*[.,!;]? (?:and )?(?:instead",
            r"|now (?:do|follow|obey|execute|run|send|write|output|reply))",
            r"|\binstead of (?:summari[sz]ing|translating|analy[sz]ing|answering",
            r"|reviewing)(?: (?:this|the|my))? (?:page|document|email|text|article|file|content|message",
            r"|question),? (?:you (?:must|should|will)|please|do|write|output|send|reply|respond|say)",
        ),
    ),
    rule(
        "ignore_instructions_fr",
        Ovr,
        concat!(
            r"\b(?:ignore[zr]?|oublie[zr]?|ne tiens pas compte des|ne tenez pas compte des",
            r"|fais abstraction des) (?:toutes )?(?:les |tes |vos )?(?:instructions|consignes|directives",
            r"|regles) (?:precedentes|anterieures|ci-dessus|initiales|du systeme|d'origine)",
            r"|\boublie[zr]? (?:tout|toutes) (?:ce qu'on t'a dit|ce qui precede|tes instructions",
            r"|vos instructions)",
        ),
    ),
    rule(
        "ignore_instructions_es",
        Ovr,
        concat!(
            r"\b(?:ignora|ignore|ignoren|ignorar|olvida|olvide|olviden|olvidar|descarta) (?:todas )?(?:las ",
            r"|tus |sus )?(?:instrucciones|indicaciones|reglas|ordenes|directrices) (?:anteriores|previas",
            r"|originales|del sistema|de arriba)",
            r"|\bolvida (?:todo lo que te (?:dijeron|han dicho)|todas tus instrucciones)",
        ),
    ),
    rule(
        "ignore_instructions_de",
        Ovr,
        concat!(
            r"\b(?:ignoriere|ignorier|ignorieren sie|ignoriert|vergiss|vergessen sie|missachte",
            r"|missachten sie) (?:alle |samtliche )?(?:vorherigen |bisherigen |obigen |vorigen ",
            r"|vorangegangenen |deine |ihre |alle )*(?:anweisungen|instruktionen|vorgaben|regeln|befehle",
            r"|systemanweisungen)|\bvergiss (?:alles|alle),? was (?:dir|man dir) (?:gesagt|vorgegeben)",
        ),
    ),
    rule(
        "ignore_instructions_it_pt_nl",
        Ovr,
        concat!(
            r"\b(?:ignora|ignorate|dimentica|dimenticate) (?:tutte )?(?:le )?(?:istruzioni|indicazioni",
            r"|regole) (?:precedenti|anteriori|di sistema|originali)",
            r"|\b(?:ignore|ignora|esqueca|esqueça) (?:todas )?(?:as )?(?:instrucoes|instruções",
            r"|regras) (?:anteriores|previas|originais)",
            r"|\b(?:negeer|vergeet) (?:alle )?(?:vorige |eerdere |voorgaande |je |jouw )?(?:instructies|regels",
            r"|opdrachten)",
        ),
    ),
    rule(
        "ignore_instructions_ru",
        Ovr,
        concat!(
            r"(?:игнорируй|игнорируйте|проигнорируй|проигнорируйте|забудь|забудьте)(?: все",
            r"| всё)?(?: предыдущие| прежние| предшествующие| свои| ваши| твои| системные)? (?:инструкции",
            r"|указания|правила|команды)",
        ),
    ),
    rule(
        "ignore_instructions_zh_ja",
        Ovr,
        concat!(
            r"(?:忽略|无视|忽视|不要理会|不要遵守|忘记|忘掉)(?:掉)?(?:你)?(?:之前|以前|先前|上面|上述|以上|前面|所有|全部|原有|原来)(?:的)?(?:所有|全部",
            r"|一切)?(?:的)?(?:指令|指示|说明|规则|提示|命令|设定)|(?:以前|前|上記|これまで|今まで)の(?:すべての|全ての)?(?:指示|命令|指令|ルール)を(?:無視|忘れ)",
        ),
    ),
];
