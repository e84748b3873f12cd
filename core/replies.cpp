#include "core/replies.h"

#include <regex>
#include <vector>

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace nudge {

const char* to_string(ReplyClass c) {
  switch (c) {
    case ReplyClass::kOptOut: return "opt_out";
    case ReplyClass::kOffPlatform: return "off_platform";
    case ReplyClass::kPromise: return "promise";
    case ReplyClass::kOther: return "other";
  }
  return "?";
}

std::optional<ReplyClass> parse_reply_class(std::string_view s) {
  if (s == "opt_out") return ReplyClass::kOptOut;
  if (s == "off_platform") return ReplyClass::kOffPlatform;
  if (s == "promise") return ReplyClass::kPromise;
  if (s == "other") return ReplyClass::kOther;
  return std::nullopt;
}

namespace {

// NFKC (full-width and styled letters become plain ones), case folded, decomposed and
// stripped of accents (so "arrêtez", "ARRETEZ" and "ａｒｒｅｔｅｚ" agree; Russian 'й'
// and 'ё' become 'и' and 'е' the same way in the text and in the patterns). With
// `words`, every run of what is not a letter or a digit becomes one space ("don't"
// is "don t"), and the result is padded with a space on each side. Invalid UTF-8
// becomes U+FFFD, a non-letter.
std::string fold(std::string_view text, bool words) {
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(st);
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(st);
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(st);
  icu::UnicodeString s = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (U_SUCCESS(st)) {
    s = nfkc->normalize(s, st);
    s.foldCase();
    s = nfd->normalize(s, st);
  }
  icu::UnicodeString out;
  bool space = true;
  if (words) out.append(static_cast<UChar32>(' '));
  for (int32_t k = 0; k < s.length();) {
    UChar32 c = s.char32At(k);
    k += U16_LENGTH(c);
    int8_t type = u_charType(c);
    if (type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK) continue;
    if (type == U_FORMAT_CHAR) continue;  // zero-width characters inside a word
    if (words && !u_isalnum(c)) {
      if (!space) out.append(static_cast<UChar32>(' '));
      space = true;
      continue;
    }
    out.append(c);
    space = false;
  }
  if (words && !space) out.append(static_cast<UChar32>(' '));
  if (U_SUCCESS(st)) {
    UErrorCode st2 = U_ZERO_ERROR;
    icu::UnicodeString composed = nfc->normalize(out, st2);
    if (U_SUCCESS(st2)) out = composed;
  }
  std::string r;
  out.toUTF8String(r);
  return r;
}

// A phrase: a regular expression over the folded words (patterns are folded the same
// way before they are compiled, so they are written plainly, accents and all), and
// the phrases that, found in the same text, excuse it ("don't stop my order").
struct Phrase {
  std::regex re;
  std::vector<std::regex> unless;
};

std::regex compile(const std::string& pattern) {
  return std::regex(fold(pattern, false), std::regex::ECMAScript | std::regex::optimize);
}

Phrase phrase(const std::string& pattern, std::initializer_list<const char*> unless = {}) {
  Phrase p{compile(pattern), {}};
  for (const char* u : unless) p.unless.push_back(compile(u));
  return p;
}

// Negations that turn a "stop"-like phrase around, per language.
const char* const kNotStopEn = " (don t|dont|do not|never|can t|cant|cannot|won t|wont|please don t) stop ";

// The standard opt-out keywords (CTIA, the French and Chinese SMS rules) and their
// plain equivalents, as the whole message; "please" and "thanks" around them allowed.
const std::vector<Phrase>& whole_message_optouts() {
  static const std::vector<Phrase> list = {phrase(
      "^ ((please|pls|plz|por favor|por favor,|s il vous plait|svp|пожалуйста|请) )?"
      "(stop|stopall|stop all|unsubscribe|unsub|cancel|end|quit|opt out|optout|remove me|stop it|"
      "arret|arrete|arretez|arreter|td|退订|退訂|td退订|回复td退订|"
      "baja|para|pare|parem|basta|chega|стоп|хватит|отписка|отписаться|停止|别发了|不要发了|不要再发了)"
      "( (please|pls|plz|now|thanks|thank you|por favor|obrigado|obrigada|gracias|svp|merci|"
      "s il vous plait|пожалуйста|спасибо|谢谢|stop|stop stop|please stop))* $")};
  return list;
}

// Plain opt-out phrases anywhere in the message, in the six languages.
const std::vector<Phrase>& optout_phrases() {
  static const std::vector<Phrase> list = {
      // en
      phrase(" (stop|quit|cease) (messaging|texting|sending|writing|emailing|e mailing|contacting|spamming|bothering|"
             "pestering|harassing|reminding|messaging me|these messages|the messages|this messages|your messages|"
             "the reminders|these reminders|your reminders|it with the) ",
             {kNotStopEn}),
      phrase(" (don t|dont|do not|never) (message|text|email|e mail|contact|write to|write|spam|bother|remind|"
             "pester|harass) (me|us) (again|anymore|any more|ever|please|$)"),
      phrase(" (don t|dont|do not) (send|write) (me )?(any )?(more|further|other) (messages|texts|emails|reminders) "),
      phrase(" (don t|dont|do not) (message|text|email|contact|spam|bother|remind) me $"),
      phrase(" no more (messages|texts|emails|reminders|spam|notifications) "),
      phrase(" (leave me alone|unsubscribe|unsubscribe me|opt me out|opt out of|take me off|remove me from) "),
      phrase(" i (don t|dont|do not) want (any |to get |to receive )?(more |any more |further |your )?"
             "(messages|reminders|texts|emails|notifications) "),
      // es
      phrase(" no me (escribas|escriban|escribais|contactes|contacten|molestes|molesten|mandes mas|manden mas|"
             "envies mas|envien mas|mandes mensajes|manden mensajes|envies mensajes|envien mensajes|escribas mas) "),
      phrase(" (deja|dejen|dejad|dejar|para|paren|parad|parar) de (escribirme|mandarme|enviarme|molestarme|"
             "contactarme|escribir|mandar mensajes|enviar mensajes|enviarme mensajes|mandarme mensajes) "),
      phrase(" no (quiero|deseo) (recibir )?(mas|ningun|ningunos|ningunas) (mensajes|mensaje|correos|recordatorios|"
             "notificaciones) "),
      phrase(" (darme|dame|denme|dar|deme|doy) de baja "),
      phrase(" (desuscribir|desuscribirme|desuscribanme|desuscribeme|cancelar la suscripcion|basta de mensajes|"
             "basta de spam|no mas mensajes) "),
      // pt
      phrase(" (pare|para|parem|parar|pára) de (me )?(mandar|enviar|escrever|mandando|enviando|incomodar|encher|"
             "perturbar|contatar) "),
      phrase(" nao (me )?(mande|mandem|envie|enviem|escreva|escrevam) mais "),
      phrase(" nao me (escreva|escrevam|perturbe|perturbem|incomode|incomodem|contate|contatem|mande mensagens|"
             "envie mensagens) "),
      phrase(" nao quero (mais )?(receber )?(mais )?(mensagens|mensagem|lembretes|emails|e mails|notificacoes) "),
      phrase(" (descadastrar|descadastre|descadastrem|descadastra|me tire da lista|me tirem da lista|"
             "cancelar inscricao|chega de mensagens) "),
      // ru
      phrase(" не (пишите|пиши|присылайте|присылай|отправляйте|шлите|беспокойте|беспокой|донимайте|спамьте) "
             "(мне|больше|сюда|нам|меня|$)"),
      phrase(" (хватит|перестаньте|прекратите|перестань|прекрати) (мне )?(писать|присылать|слать|спамить|"
             "беспокоить|отправлять|донимать) "),
      phrase(" больше не (пишите|пиши|присылайте|беспокойте|пишете|присылаите) "),
      phrase(" не (надо|нужно) (мне |нам )?(больше )?(писать|присылать|слать|отправлять) "),
      phrase(" (отпишите|отпишитесь|отписаться|отпиши|отписать) "),
      phrase(" не хочу (больше )?(получать )?(ваши |эти )?(сообщения|напоминания|рассылку|уведомления) "),
      phrase(" оставьте меня в покое "),
      // fr
      phrase(" (arretez|arrete|arreter) (de m|de me|de nous|de m envoyer|de m ecrire|de me contacter|"
             "vos messages|les messages|ces messages|d envoyer|d ecrire|les relances|vos relances) ",
             {" n arret", " ne arret"}),
      phrase(" ne (m|me) (ecrivez|envoyez|contactez|ecris|envoie|relancez|relance|derangez) plus "),
      phrase(" (desabonner|desabonnez|desabonnez moi|desinscrire|desinscrivez|desinscrivez moi|me desabonner|"
             "laissez moi tranquille|stop aux messages|plus de messages) "),
      phrase(" je ne veux plus (de |recevoir )?(vos |ces |de )?(messages|rappels|relances|notifications) "),
      // zh (no spaces between words: the patterns are substrings)
      phrase("(别再发|不要再发|别发了|不要发了|别给我发|不要给我发|不要再给我发|别再给我发|取消订阅|"
             "退订|退訂|別再發|不要再發|别再联系我|不要再联系我|别烦我|不要打扰|别打扰|停止发送|拒收|"
             "不要再提醒|别再提醒|别催了|不要催了)"),
  };
  return list;
}

const std::vector<Phrase>& promise_phrases() {
  static const std::vector<Phrase> list = {
      // en
      phrase(" (i ll|ill|i will|i m going to|im going to|i am going to|i m gonna|im gonna|gonna|will|i shall|"
             "we ll|we will|we re going to) (pay|complete (the |my )?payment|make (the |my )?payment|settle|"
             "send (the )?payment|finish (the )?payment|do (the )?payment|be paying|check out) ",
             {" (won t|wont|will not|not going to|not gonna|can t|cant|cannot|never) (pay|complete|make|be paying) "}),
      phrase(" (pay|paying|payment|pay for it|pay it|paying it|paying for it) (today|tonight|tomorrow|later|soon|this evening|"
             "this afternoon|this weekend|next week|on (monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
             "after payday|when i get paid|in an hour|in a few hours|in a few days|asap) ",
             {" (won t|wont|not|can t|cant|cannot|never) (pay|be paying) "}),
      phrase(" (paying (it )?now|will be paid|payment is coming|payment coming|give me (a day|until|till)) "),
      // es
      phrase(" (pagare|voy a pagar|vamos a pagar|lo pago|te pago|le pago|hare el pago|realizare el pago|"
             "hago el pago|pagamos|pagaremos|voy a hacer el pago|voy a realizar el pago|ya pago) ",
             {" no (voy a pagar|pagare|lo pago|puedo pagar|vamos a pagar|pagaremos) "}),
      phrase(" pago (hoy|manana|esta noche|mas tarde|el lunes|el martes|el miercoles|el jueves|el viernes|"
             "el sabado|el domingo|en un rato|pronto) "),
      phrase(" (hoy|manana|esta noche|el lunes|el viernes|pronto) (te |le |lo )?(pago|pagare|pagamos) ",
             {" no (te |le |lo )?(pago|pagare|pagamos) "}),
      // pt
      phrase(" (vou pagar|pagarei|vamos pagar|vou fazer o pagamento|vou efetuar o pagamento|farei o pagamento|"
             "efetuarei o pagamento|vou quitar|pagaremos) ",
             {" nao (vou pagar|pagarei|vamos pagar|consigo pagar|vou fazer o pagamento) "}),
      phrase(" pago (hoje|amanha|mais tarde|a noite|depois|logo|semana que vem|na sexta|na segunda) "),
      // ru
      phrase(" (оплачу|заплачу|оплатим|заплатим|оплачу заказ|произведу оплату|сделаю оплату|внесу оплату|"
             "оплата будет|буду оплачивать|оплачу позже|скоро оплачу) ",
             {" не (оплачу|заплачу|оплатим|заплатим|буду (платить|оплачивать)|могу оплатить) "}),
      // fr
      phrase(" (je paie|je paye|je paierai|je payerai|je vais payer|nous allons payer|je vais regler|je regle|"
             "je reglerai|je vais effectuer le paiement|j effectuerai le paiement|je fais le paiement|"
             "paiement demain|paiement ce soir) ",
             {" ne (vais pas payer|paierai pas|payerai pas|paie pas|paye pas|peux pas payer|reglerai pas) "}),
      // zh
      phrase("(明天付|今天付|今晚付|晚点付|晚上付|稍后付|马上付|我会付|会付款|我会支付|明天支付|今晚支付|"
             "明天给钱|过两天付|下班后付|等下付|一会付|一会儿付|等会付|等会儿付|明天就付|今天就付|很快付|"
             "周末付|发工资就付|发工资后付)",
             {"(不会付|不付|不想付|付不了|不支付|不会支付)"}),
  };
  return list;
}

// The first phrase of `list` found in `words` and not excused; the matched text.
std::optional<std::string> find(const std::vector<Phrase>& list, const std::string& words) {
  for (const auto& p : list) {
    std::smatch m;
    if (!std::regex_search(words, m, p.re)) continue;
    bool excused = false;
    for (const auto& u : p.unless)
      if (std::regex_search(words, u)) excused = true;
    if (excused) continue;
    std::string s = m.str();
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
  return std::nullopt;
}

}  // namespace

std::string reply_words(std::string_view text) { return fold(text, true); }

ReplyVerdict classify_reply(std::string_view text, std::string_view lang, const ContentLint& lint) {
  // Replies are short; a long text is cut (at a character boundary) so that a
  // pathological one costs a bounded time.
  constexpr size_t kMax = 4000;
  if (text.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  const std::string words = reply_words(text);
  if (auto m = find(whole_message_optouts(), words)) return {ReplyClass::kOptOut, "", *m};
  if (auto m = find(optout_phrases(), words)) return {ReplyClass::kOptOut, "", *m};
  for (const auto& f : lint.lint(text, lang)) {
    if (!f.allowed_by.empty()) continue;
    if (f.category == Category::kContact || f.category == Category::kPaymentRoute ||
        f.category == Category::kAccountNumber || f.category == Category::kOffPlatform)
      return {ReplyClass::kOffPlatform, to_string(f.category), f.matched};
  }
  if (auto m = find(promise_phrases(), words)) return {ReplyClass::kPromise, "", *m};
  return {ReplyClass::kOther, "", ""};
}

std::optional<ReplyWait> reply_wait(ReplyClass latest, Millis reply_at, Millis now, Millis promise, Millis pause) {
  ReplyWait w;
  if (latest == ReplyClass::kPromise) {
    w = {reply_at + promise, "buyer_promised"};
  } else if (latest == ReplyClass::kOther) {
    if (pause <= 0) return std::nullopt;
    w = {reply_at + pause, "buyer_replied"};
  } else {
    return std::nullopt;  // opt-outs and flags act when the reply is taken, not by waiting
  }
  if (w.until <= now) return std::nullopt;
  return w;
}

}  // namespace nudge
