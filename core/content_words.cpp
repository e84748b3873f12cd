// The content lint's word lists: one pattern a line, "<kind> <pattern>".
//
// Kinds: C contact, P payment_route, O off_platform, L link (spelled out), T tone
// (threats, ultimatums), A "in the app" context. A trailing 'x' on the kind (Px)
// marks a word that is legitimate when its sentence also says "in the app" (Pix and
// boleto are offered at AliExpress' checkout in Brazil, OXXO in Mexico).
//
// Pattern syntax: words separated by spaces; `(a|b c|d*)` alternatives (each may be
// several words; a gap inside one is ignored); `(...)?` may be absent; `word*` a prefix;
// `~N` up to N other words; `#` a number. Words are
// normalised like the text (NFKC, case folded, confusable skeleton, accents dropped),
// so write them plainly; Chinese is matched character by character.
#include "core/content_lint.h"

namespace nudge {

const char* builtin_content_patterns() {
  return R"(
C (whatsapp|whatsap|watsapp|watsap|whats app|what s app|wats app|whatsaap|wathsapp|whatapp|wassap|wasap|wsp|wpp|whats|zapzap|zap zap|uatsap)
C (no|pelo|meu|nosso|chama ~2|chame ~2) zap
C (вотсап*|ватсап*|вацап*|воцап*|вотсап|уатсап*)
C (telegram*|telegran|teleqram|tlgrm|телеграм*|телега|телеге|телегу|телеграмм*|тг|tg|电报|纸飞机)
C (viber|вайбер*|вибер*|skype|скайп*|discord|snapchat|instagram|insta|инстаграм*|инсте|инсту|facebook|фейсбук*|messenger|вконтакте|kakaotalk|imessage)
C (on|via|por|pelo|no|en|par|sur|в|через|add ~2) signal
C signal (app|messenger|id|me)
C line (id|app|me|account)
C (add ~2 on|por|pelo|no|en|via|sur) line (app|id)
C 加 ~1 line
C (wechat|we chat|weixin|weichat|wechatid|微信|薇信|威信|徽信|危信|v信|wei 信|微 x|vx|wx|微号|绿泡泡|вичат|вичате|вэйчат|вейчат)
C 加 ~1 (v|微|wx|vx|qq|好友|我|扣扣|企鹅)
C (qq|扣扣|企鹅号|企鹅) ~1 #
C qq (号|群)
C 扣扣
C (联系电话|我的电话|电话号码|手机号|打电话|打我电话|来电)
C (my|our) (phone|cell|mobile|whatsapp|telegram|number|email|e mail)
C (call|text|ring|phone|sms|whatsapp) (me|us)
C (email|e mail|mail|message|write) (me|us) ~1 (directly|privately|outside|personally|at)
C (mi|nuestro|nuestra) (numero|celular|telefono|movil|whatsapp|correo)
C (llamame|llamanos|llame|llamenos|escribeme|contactame)
C (meu|nosso|minha|nossa) (numero|celular|telefone|zap|whats|contato|email)
C (me chama|me liga|liga pra|liga para|ligue para|ligue|chama no|me manda mensagem)
C (мой|наш|моя|моего|нашего) (номер|телефон|тел|почта|почту|email|личку)
C (звоните|позвоните|звонить|позвонить|звони|набирайте|пишите в лс|пишите в личку|в личку)
C (mon|notre) (numero|portable|telephone|whatsapp|mail|email|adresse mail)
C (appelez|appelle|appeler|appellez|ecrivez moi|contactez moi)
C (gmail|hotmail|yahoo|yandex|protonmail|icloud|яндекс почт*|mail ru|outlook com|163 com|qq com|126 com)
C (at|arroba|собака|dog|艾特) (gmail|hotmail|yahoo|outlook|mail|yandex|icloud|qq|163|126)
C (send|give|share|leave|tell|text) ~2 (your|ur) (phone|number|cell|mobile|whatsapp|telegram|contact|email|e mail)
C (pasa*|dame|manda*|envia*|deja*|comparte*) ~2 (tu|su) (numero|celular|telefono|whatsapp|contacto|correo)
C (passa*|manda*|envia*|deixa*|me da) ~2 (seu|teu|o seu) (numero|celular|telefone|whats|zap|contato|email)
C (оставьте|оставь|дайте|дай|пришлите|скиньте|напишите|сообщите) ~2 (свой|ваш|твой) (номер|телефон|контакт*|почт*|email)
C (donnez|donne|envoyez|laissez|communiquez|passez) ~2 (votre|ton) (numero|telephone|portable|whatsapp|mail|email)
C (留|发|给|告诉) ~2 (手机号|电话|联系方式|微信号|号码)
L (dot|punto|ponto|point|точка|点) (com|net|org|ru|xyz|shop|top|site|store|online|me|io|cn|br|mx|es|fr|link|ly|cc|vip|club|su|рф)

Px (paypal|pay pal|paypa|paypl|papal|пейпал|пэйпал|пайпал|贝宝)
P (western union|westernunion|western юнион|вестерн юнион|вестерн униoн|вестерн|西联|速汇金)
P (moneygram|money gram|манигрaм|zelle|venmo|cash app|cashapp|revolut|payoneer|skrill|neteller|transferwise|wise transfer|remitly|worldremit|ria money|perfect money|advcash)
P (bizum|spei|clabe|nequi|daviplata|yape|sinpe|mercado pago|mercadopago|picpay|pagseguro|pagbank|nubank|lydia|paylib|wero|neosurf|transcash|mandat cash|rib|iban|swift)
Px (oxxo|pix|boleto)
P (deposit*|deposite*)
P (transferencia*|transfer|transferir|transfiera|transfiere|transfira|transfere|transferimos|virement*|перевод|переводом|переведите|переведи|перевести|переводите|скиньте|скинуть|скинь)
P (bank|wire|money) (transfer|order|account|details)
P (wire|send) ~2 (money|payment|funds)
P (routing number|routing|sort code|account number|account details|bank details|banking details|apple cash)
P (account|acct|cuenta|conta|compte|счет|счёт|账户|账号) ~1 #
P (through|via|with|by|using|on) wise
P wise (transfer|account)
P (cuenta bancaria|datos bancarios|numero de cuenta|cuenta de banco|conta bancaria|dados bancarios|numero da conta|реквизит*|расчетн* счет*|coordonnees bancaires|compte bancaire|numero de compte)
P (via|por|fazer|faca|faz|um) (ted|doc)
P pix ~1 (key|chave|copia e cola|para o|para a|pro|pra|no cpf|no cnpj|no email|no celular|no numero|no telefone)
P (chave|key|clave|ключ) ~2 pix
P (faca|faz|fazer|manda|mande|envie|envia|mandar|enviar|faz ai|me faz|me manda) ~2 pix
P (cpf|cnpj) ~4 pix
P pix ~4 (cpf|cnpj)
P boleto ~3 (whats|zap|email|e mail|por fora|no privado|pelo chat|link)
P (mando|envio|enviamos|mandamos|vou mandar|vou enviar|te mando|te envio) ~2 (o|um)? ~1 boleto
P oxxo ~3 (referencia|numero|tarjeta|deposito|cuenta)
Px (sbp|сбп|система быстрых платежей|sberpay|сберпэй)
P (qiwi|киви|юmoney|ю money|юмани|юmani|yoomoney|яндекс деньги|яндекс кошел*|yandex money|webmoney|вебмани|сбер*|тинькофф*|тиньк*|тинькоф*|альфа банк|альфабанк|втб|озон банк|райффайзен*)
P на (карт*|номер* карт*|счет|счёт)
P по номер* (карт*|телефон*)
P (bitcoin|btc|ethereum|usdt|tether|trc20|trc 20|erc20|erc 20|crypto|cryptocurrency|cryptos|criptomoneda*|criptomoeda*|cripto|крипт*|биткоин*|биткойн*|cryptomonnaie*|crypto monnaie|binance|比特币|加密货币|泰达币|虚拟币|数字货币)
P (gift card|giftcard|tarjeta regalo|tarjeta de regalo|cartao presente|vale presente|подарочн* карт*|carte cadeau|礼品卡|steam card|google play card|itunes card|apple card)
P (wechat pay|weixin pay|微信支付|微信转账|微信付款|支付宝转账|支付宝扫码|支付宝付款码|扫码付款|扫码支付|扫码转账|扫一扫|收款码|付款码|二维码|银行转账|银行卡号|银行账户|银行账号|对公账户|转账|汇款|电汇|打款|红包|云闪付)
P alipay ~2 (transfer|account|qr|code|scan)
P (scan|escanea|escaneie|escaneie o|сканируйте|отсканируйте|scannez) ~3 (qr|code|codigo|код)
P (qr|qrcode|qr code|codigo qr|qr код) ~4 (pay*|pag*|оплат*|paiement|payer|付款|支付)

Ox pay ~2 (directly|direct)
O pay ~2 (outside|privately|offline|off platform|off the platform|in person|in cash|cash)
O (direct|private|offline|outside|personal|side) (payment|deal|transaction|transfer|sale|purchase|arrangement)
O (outside|bypass|avoid|skip|around|circumvent) ~3 (aliexpress|platform|the app|marketplace|ali)
O off ~1 (platform|aliexpress|app)
O (cancel*) ~4 (buy|order|purchase|pay|checkout) ~4 (our|my) ~2 (website|site|webshop|web shop|online store|own store|own shop|whatsapp|telegram|link)
O (buy|order|purchase|pay|checkout|shop) ~3 (on|from|at|through|via|in) (our|my) ~1 (website|site|webshop|web shop|online store|own store|own shop)
O (buy|order|purchase) ~2 directly (from|with) (us|me)
O (cheaper|discount|lower price|better price|save) ~6 (directly|outside|our website|our site|our shop|without aliexpress|no fees|without fees|avoid fees|no commission)
O (without|no|avoid|save|skip) ~2 (aliexpress|platform|marketplace|ali) (fee|fees|commission|commissions)
O (send|transfer|give) ~2 (money|payment|funds|cash) ~3 (directly|to me|to us|to my|to our)
O (contact|message|write|text|reach) (me|us) (directly|privately|outside|personally)
O (pay|payment|send) ~2 (to|into) (my|our) (account|wallet|card|personal)
O (deal|trade|transaction|payment|pay) ~2 (offline|outside|privately)
O (between|among) (us|you and me|you and us|ourselves)

Ox (pag*) ~2 (directamente|directo)
O (pag*) ~3 (por fuera|afuera|aparte|en privado|en efectivo|personalmente|en persona)
O fuera ~1 (de|del) ~1 (plataforma|aliexpress|app|aplicacion|ali|sistema)
O sin pasar por ~1 (app|aplicacion|aliexpress|plataforma|ali)
O (cancel*|anula|anule|anular) ~5 (compra*|compre|pida|pide|pedir|haga|hace*|haz|ordene|pedido) ~6 (nuestra|nuestro|mi) ~2 (web|pagina web|sitio|tienda online|tienda propia|whatsapp|instagram)
O (compra*|compre|pida|pide|pedir|ordene|pedido|haz el pedido) ~3 (en|por|desde|a traves de) (nuestra|nuestro|mi) ~1 (pagina web|web|sitio|tienda online|tienda propia)
O (sin|evitar|evite|evita|ahorrar|ahorra|ahorre|ahorrate|ahorrese) ~2 (comision|comisiones)
O (mas barato|descuento|mejor precio) ~6 (directo|directamente|fuera|sin aliexpress|por fuera)
O (trato|acuerdo|venta|negocio|transaccion) ~3 (directo|directa|privado|privada|personal|por fuera)
O sin ~1 (aliexpress|plataforma|ali|app) (de por medio|en medio)
O (compr*|pide*|pida|ordena*|pag*) ~3 (directo|directamente) (con|a) (nosotros|mi|conmigo)
O entre nosotros
O (envi*|mand*|transfier*|transfiera|deposit*) ~2 (dinero|pago|plata|importe) ~3 (directamente|a mi|a nuestra|a nuestro|a esta)
O (contactame|contactenos|escribeme|escribenos|hablemos|hable conmigo) ~2 (privado|directo|directamente|por fuera|por interno|al privado)

Ox (pagar|pague|paga|pagamento|pagamentos|paguem|pagando) ~2 (direto|diretamente|direta)
O (pagar|pague|paga|pagamento|pagamentos|paguem|pagando) ~3 (por fora|em particular|no particular|a parte|pessoalmente|em maos|em dinheiro)
O fora ~1 (da|do) (plataforma|aliexpress|app|aplicativo|loja|sistema|ali)
O sem passar ~1 (pelo|pela|por) ~1 (app|aplicativo|aliexpress|plataforma|ali)
O (cancele|cancela|cancelar|cancelem) ~5 (compre|comprar|faca|fazer|peca|pede|pedir|finalize) ~4 (nosso|nossa|meu|minha) ~2 (site|loja online|loja propria|whats|zap|instagram|link)
O (compre|comprar|compra|peca|pede|pedir) ~3 (no|na|pelo|pela|em) (nosso|nossa|meu|minha) ~1 (site|loja online|loja propria)
O (sem|evitar|evite|economizar|economize|fugir) ~3 (taxa|taxas|comissao|comissoes|tarifa|tarifas) ~3 (aliexpress|plataforma|ali|do app)
O (negocio|negociacao|negociar|venda|compra|acerto|acordo|transacao|fechar) ~2 (direto|direta|diretamente|particular|por fora)
O entre nos
O (chama|chame|fala|fale|me chama|me chame|me fala|chama a gente) ~2 (no privado|no pv|pv|privado|inbox|direct)
O (mais barato|desconto|preco melhor|melhor preco) ~6 (direto|diretamente|por fora|fora)
O (mand*|envi*|transfir*|deposit*|passa) ~2 (dinheiro|pagamento|valor|grana) ~2 (direto|diretamente|pra mim|para mim|na minha conta|pra gente|para nos)

Ox (оплат*|плат*|заплат*|рассчита*) ~2 (напрямую|на прямую)
O (оплат*|плат*|заплат*|переве*|купи*|закаж*|сделк*|рассчита*|расчет*) ~3 (лично|в обход|минуя|вне|наличными|при встрече|без посредник*)
O (минуя|мимо|в обход|обходя|без) ~2 (площадк*|платформ*|алиэкспресс*|aliexpress|али|сайт*|посредник*|маркетплейс*)
O (вне|за пределами) ~1 (площадк*|платформ*|алиэкспресс*|aliexpress|али|сайта|маркетплейс*|приложени*)
O (отмен*) ~5 (закаж*|заказыв*|куп*|покупай*|оформ*|оплат*|перезакаж*) ~4 (на|у|в|через) ~2 (сайт*|телеграм*|личк*|канал*|вотсап*|ватсап*)
O (закаж*|заказыв*|куп*|покупай*|оформ*|оплат*) ~3 (на|в|через|у) (нашем|наш|моем|мой|моём|нашей|собственн*) ~1 (сайт*|канал*|телеграм*)
O (дешевле|скидк*|выгодн*|экономи*|сэкономи*) ~6 (напрямую|минуя|без комисс*|вне|у нас на сайте|в обход|без наценк*)
O (без|минуя|обойти|избежать) ~2 (комисси*|наценк*) ~3 (площадк*|платформ*|али*|маркетплейс*)
O (сделк*|оплат*|заказ*|покупк*) (вне|мимо|в обход|напрямую) ~1 (площадк*|платформ*|сайта|али*)
O между нами

Ox (payer|payez|paiement|reglez|regler|regle|paye|payes|reglement) ~2 (directement|en direct)
O (payer|payez|paiement|reglez|regler|regle|paye|payes|reglement) ~3 (hors|en dehors|en prive|en main propre|de la main a la main|en liquide|en especes|entre nous)
O (hors|en dehors) ~1 (de|d) ~1 (la|l) ~1 (plateforme|aliexpress|application|appli|site|ali)
O (annul*) ~5 (commandez|commander|achetez|acheter|payez|passez|repassez|recommandez) ~4 (notre|mon|ma|nos|mes) ~2 (site|boutique en ligne|propre boutique|whatsapp|instagram|lien)
O (commandez|achetez|acheter|commander|payez) ~3 (sur|via|par|depuis|dans) (notre|mon|ma) ~1 (site|boutique en ligne|propre boutique)
O (sans|evitez|eviter|economisez|economiser) ~2 (commission|commissions|frais) (de|d|sur) ~1 (aliexpress|la plateforme|plateforme|ali|l application)
O (moins cher|reduction|remise|meilleur prix) ~6 (directement|en direct|hors|sans passer)
O (envoy*|virez|versez|transfer*) ~3 (argent|paiement|montant) ~2 (directement|a moi|sur mon|sur notre)
O sans passer ~1 par ~2 (aliexpress|la plateforme|plateforme|appli|application|ali)
O (transaction|vente|paiement|accord|affaire|arrangement) (directe|direct|privee|prive|hors|entre nous)
O entre nous
O (commandez|achetez|payez|commander|acheter|reglez) directement (chez|aupres de|a) (nous|moi)
O sans (aliexpress|la plateforme|passer)

Ox 直接 ~2 (付款|支付|付|转|打款|汇|买|购买|下单)
O (私下|线下|站外|平台外|场外|私人|私底下|私聊) ~1 (交易|付款|支付|转账|汇款|联系|沟通|购买|下单|打款|结算|转给|付|买|谈)
O (绕过|跳过|不走|不通过|避开|不经过|脱离) ~2 (平台|速卖通|aliexpress|阿里|系统)
O 取消 ~8 (订单|下单|购买|付款) ~8 (到|在|去|来|找) ~3 (官网|网站|独立站|微信)
O (官网|独立站|我们的网站|我们网站|我们自己的网站) ~4 (下单|购买|付款|支付|购物|买)
O (免|省|没有|不收|节省|省去|省掉|避免) ~2 (手续费|平台费|佣金|平台抽成)
O (更便宜|优惠|便宜|折扣) ~8 (私下|直接|线下|站外|平台外)
O (付|转|打|汇) ~1 (给我|给我们)
O (不用|不要|别|无需) ~2 (平台|速卖通|app|网站) ~3 (拍|买|下单|付款|付)
O 直接 ~1 (找我|找我们|联系我)
O 私聊

O (cancel*) ~6 (send|give|share|text) ~3 (link|invoice|payment link|details)
O (cancel*|anula*) ~6 (mando|envio|paso|mandare|enviare|doy) ~4 (enlace|link|liga|datos)
O (cancel*) ~6 (mando|envio|passo|mandarei|enviarei|dou) ~4 (link|boleto|dados)
O (annul*) ~6 (envoie|envoyer|envoyons|enverrai|donne|donnerai) ~4 (lien|coordonnees|rib)
O (отмен*) ~6 (пришлю|пришлём|пришлем|отправлю|скину|дам|вышлю) ~4 (ссылк*|реквизит*)
O 取消 ~8 (发|给) ~8 (链接|付款码|收款码|账号)
O (fee|fees|commission|commissions) ~6 (privately|in private|directly|offline|between us)
O (comision|comisiones) ~6 (privado|por privado|por interno|directo|directamente|por fuera)
O (taxa|taxas|comissao|comissoes) ~6 (privado|no pv|direto|diretamente|por fora)
O (комисси*) ~6 (личк*|лично|напрямую|в лс|в обход)
O (commission|commissions|frais) ~6 (en prive|prive|directement|entre nous)
O (手续费|佣金|平台费) ~6 (私下|线下|直接|站外)

T (legal action|legal steps|legal proceedings|lawsuit|sue you|court|lawyer*|attorney|police|collection agency|debt collector*|collectors)
T (report|reported|reporting) ~2 (you|your account|your profile|to aliexpress|to the platform|to the police)
T (blacklist*|black list|black listed)
T (ban|banned|block|blocked|suspend*|close|closed|terminate*) ~2 (your|you) ~1 (account|profile)
T (account|profile) ~3 (banned|blocked|suspended|terminated|blacklisted)
T (last|final) (warning|chance)
T or (else|we ~2 cancel|we ~2 report|your account|you will)
T (pay|payment) ~2 (now|immediately|right now|today) or
T (must|have to|need to) pay ~2 (now|immediately|right now|today|at once)
T (consequences|negative feedback|bad review|penalty|penalties|we will take action|action against you)
T (we know where|don t ignore|do not ignore|stop ignoring|ignoring us|you have been warned|you ve been warned)

T (acciones legales|accion legal|medidas legales|demanda|demandar|demandaremos|abogado*|tribunal*|juzgado|policia|denuncia*|reportar|reportaremos|reportarlo|lista negra)
T (bloquear|bloquearemos|bloqueamos|banear|suspender|cerrar|cerraremos) ~2 (su|tu) (cuenta|perfil)
T (ultimo|ultima) (advertencia|oportunidad)
T o (cancelamos|cancelaremos|lo cancelamos|lo cancelaremos|reportaremos|denunciaremos|tomaremos medidas|atengase)
T (consecuencias|calificacion negativa|resena negativa|mala resena|atengase)
T (no ignore|deje de ignorar|no nos ignore|no me ignore|ha sido advertido|queda advertido)

T (acao judicial|medidas judiciais|medidas legais|processar|processaremos|processo judicial|advogado*|justica|policia|procon|denunciar|denunciaremos|lista negra|serasa|spc|nome sujo)
T (bloquear|banir|suspender|encerrar|bloquearemos) ~2 (sua|seu) (conta|perfil|cadastro)
T (ultimo|ultima) (advertencia|chance|oportunidade)
T ou (cancelamos|cancelaremos|vamos cancelar|iremos cancelar|denunciaremos|tomaremos|sera denunciado|voce sera)
T (consequencias|avaliacao negativa|feedback negativo)
T (nao ignore|pare de ignorar|nao nos ignore|esta avisado|fica o aviso)

T (суд|в суд|судебн*|юрист*|адвокат*|полици*|коллектор*|прокуратур*)
T (пожалу*|жалоб*) ~2 (на вас|вас|на ваш|в поддержку)
T (черн* список*|blacklist|чс)
T (заблокир*|забаним|забанят|забанить|бан) ~3 (аккаунт*|профил*|учетн*|вас|ваш)
T (последнее|последний) (предупреждение|шанс)
T (иначе|или мы|в противном случае) ~3 (отмен*|пожал*|заблок*|пода*|обрат*|прим*)
T (последстви*|негативн* отзыв*|плох* отзыв*)
T (не игнорируйте|хватит игнорировать|игнорир*|вы предупреждены|пожалеете)

T (poursuites|poursuite judiciaire|action en justice|actions en justice|avocat*|tribunal|justice|police|huissier|signaler|signalerons|signalement|liste noire|plainte)
T (bloquer|bannir|suspendre|fermer|bloquerons) ~2 (votre|ton) (compte|profil)
T (dernier|derniere) (avertissement|chance)
T sinon ~3 (annul*|signal*|bloqu*|poursui*|nous)
T ou (nous annulons|nous annulerons|on annule|nous signalerons)
T (consequences|avis negatif|evaluation negative|mauvaise note)
T (n ignorez pas|arretez d ignorer|ne nous ignorez pas|vous etes prevenu|vous etes averti|vous voila prevenu)

T (法律|起诉|律师|法院|报警|警察|投诉你|举报|拉黑|黑名单|封号|封你|封禁|最后警告|最后通牒|最后一次警告|后果自负|后果|差评|追究)
T (否则|不然|要不然) ~4 (取消|投诉|举报|起诉|封|拉黑|差评|后果)
T (不要|别) ~2 (无视|忽视|不理)

A (in|on|via|through|using|inside|within) ~2 (app|aliexpress|checkout|order page|my orders|platform)
A at checkout
A (no|na|pelo|pela|do|da|dentro) ~2 (app|aplicativo|aliexpress|checkout|pagina do pedido|meus pedidos|plataforma)
A (ao|na) (finalizar|finalizacao|pagar)
A (en|por|desde|con|dentro de) ~2 (app|aplicacion|aliexpress|mis pedidos|pagina del pedido|plataforma)
A al (pagar|finalizar)
A (dans|via|sur|depuis) ~2 (application|appli|app|aliexpress|mes commandes|plateforme)
A (в|через) ~1 (приложени*|алиэкспресс*|aliexpress|мои заказы|площадк*|платформ*)
A (на|при) ~3 (алиэкспресс*|aliexpress|площадк*|али)
A при (оформлени*|оплат*) ~1 заказ*
A (在|通过|用) ~3 (app|应用|速卖通|aliexpress|我的订单|订单页面|平台)
)";
}

}  // namespace nudge
