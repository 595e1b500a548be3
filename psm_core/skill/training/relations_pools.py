"""Value pools of the relation curriculum (:mod:`psm_core.skill.training.relations_lexicon`).

A value is one string, or several parts joined by ``|`` (a pet is ``kind|name``). Every pool is split
into a training part and a held-out part (every fourth value) by the curriculum.
"""

from __future__ import annotations

__all__ = ["POOLS"]


def _p(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(";") if v.strip())


# fmt: off
POOLS: dict[str, tuple[str, ...]] = {
    "city": _p(
        "Leeds; Bristol; Glasgow; Manchester; Lisbon; Porto; Berlin; Munich; Lyon; Madrid; Valencia; Rome; Turin; Vienna; "
        "Prague; Krakow; Dublin; Cork; Boston; Chicago; Denver; Seattle; Austin; Portland; Toronto; Vancouver; Montreal; "
        "Sydney; Melbourne; Auckland; Osaka; Seoul; Singapore; Nairobi; Cape Town; Istanbul; Athens; Oslo; Stockholm; "
        "Helsinki; Edinburgh; Cardiff; Belfast; Brighton; Norwich; York; Sheffield; Nottingham; Oxford; Cambridge; Bath; "
        "Zurich; Geneva; Amsterdam; Rotterdam; Utrecht; Copenhagen; Hamburg; Cologne; Marseille; Bordeaux; Seville; Bilbao; "
        "Phoenix; Atlanta; Miami; Nashville; Minneapolis; San Diego; Philadelphia; Pittsburgh; Calgary; Ottawa; Perth; "
        "Brisbane; Wellington; Dundee; Aberdeen; Exeter; Plymouth; Leicester; Coventry; Reading; Southampton; Lagos; Accra"
    ),
    "country": _p(
        "Italy; Japan; Iceland; Vietnam; Peru; Morocco; Portugal; Greece; Mexico; Canada; Norway; Thailand; Kenya; Chile; "
        "Croatia; Turkey; India; Brazil; Argentina; Egypt; New Zealand; South Korea; Indonesia; Sri Lanka; Cuba; Scotland; "
        "Ireland; Spain; France; Germany; Poland; Hungary; Austria; Switzerland; Finland; Sweden; Denmark; Colombia; "
        "Costa Rica; Jordan; Tanzania; Nepal; Cambodia; Malaysia; the Philippines; Australia; the US; China"
    ),
    "company": _p(
        "Google; Unilever; Ocado; Siemens; Deloitte; Barclays; Spotify; Shopify; Airbnb; Tesco; Sainsbury's; "
        "the NHS; the BBC; Accenture; KPMG; IBM; Microsoft; Amazon; Netflix; Zalando; Bosch; Philips; Nestle; Rolls-Royce; "
        "BAE Systems; Arup; Atkins; Monzo; Revolut; Deliveroo; Canva; Atlassian; Stripe; Salesforce; Oracle; SAP; Adidas; "
        "Nike; Ikea; Lidl; Aldi; Boots; John Lewis; Marks and Spencer; Vodafone; BT; Sky; Ubisoft; Rockstar; DeepL; Mistral; "
        "a small design agency; a law firm in town; the local council; a startup called Loomly; a bakery chain; "
        "the university; a hedge fund; a logistics company; an insurance company; Fabrik Labs; Northwind; Brightside Health"
    ),
    "job": _p(
        "nurse; software engineer; teacher; graphic designer; accountant; chef; photographer; data analyst; physiotherapist; "
        "lawyer; pharmacist; barista; architect; journalist; electrician; vet; marketing manager; social worker; "
        "firefighter; dentist; game developer; librarian; pilot; carpenter; counsellor; mechanic; project manager; "
        "translator; personal trainer; estate agent; copywriter; product manager; paramedic; plumber; midwife; "
        "civil engineer; HR advisor; sales rep; bus driver; postman; receptionist; UX researcher; lab technician; "
        "quantity surveyor; solicitor; tattoo artist; florist; baker; primary school teacher; data scientist; "
        "site manager; security guard; radiographer; optician; train driver; hairdresser; occupational therapist"
    ),
    "promotion": _p(
        "junior copywriter|senior copywriter; developer|tech lead; analyst|senior analyst; staff nurse|ward sister; "
        "associate|partner; assistant manager|store manager; teacher|head of department; engineer|engineering manager; "
        "sous chef|head chef; trainee solicitor|associate solicitor; junior designer|lead designer; "
        "research assistant|postdoc; sales rep|regional sales manager; deputy head|headteacher; "
        "support agent|team lead; intern|junior developer; PhD student|lecturer; lecturer|senior lecturer"
    ),
    "job_status": _p(
        "I work full time, forty hours a week; I'm part-time, three days a week; I'm freelance; I'm self-employed; "
        "I'm retired; I'm between jobs at the moment; I work nights on the ward; I work from home full time; "
        "I'm on maternity leave; I'm on paternity leave; I work four days a week; I'm a full-time student; "
        "I'm on a zero-hours contract; I do shift work, earlies and lates; I'm on long-term sick leave; "
        "I'm working two jobs; I'm in the office five days a week; I'm on a career break; I'm unemployed"
    ),
    "person": _p(
        "Sarah Okafor; Daniel Reyes; Hendricks; Priya; Tom; Marco; Katrin; Olu; Gareth; Lucia; Aisha; Yusuf; Noor; Tariq; "
        "Maya; Sam; Leo; Jess; Ben; Hannah; Chloe; Oliver; Amelia; Ethan; Isla; Freya; Arjun; Mei; Kenji; Sofia; Mateo; "
        "Ingrid; Lars; Fatima; Omar; Zara; Kwame; Ama; Niamh; Ciaran; Rhys; Megan; Callum; Eilidh; Rosa; Pablo; Elena; "
        "Dmitri; Anya; Hugo; Camille; Luca; Giulia; Jonas; Emma; Noah; Mia; Liam; Ava; Ruby; Alfie; Poppy; Harvey"
    ),
    "manager": _p(
        "Sarah Okafor; Daniel Reyes; Mr Hughes; Dr Lindqvist; Karen; Steve; Michelle; Raj; Claire Dubois; Mark Chen; "
        "Helen; Graham; Anita Shah; Paul; Fiona; Tobias Meyer; Joanne; Derek; Nadia; Victor Osei; Lisa Park; Martin; "
        "Ruth; Simon Blake; Eva Novak; Ian; Bridget; Kofi Mensah"
    ),
    "salary": _p(
        "42,000 a year; 48,500 a year; £35k; £52k; about 60 grand; $85,000; $120k; 2,300 a month after tax; "
        "2,600 a month take-home; £14 an hour; €3,100 a month; about 28k; 75 thousand; £90k plus bonus; 31,500; "
        "$22 an hour; 39k; €45,000; £1,900 a month; 65,000 dollars"
    ),
    "subject": _p(
        "chemistry; computer science; history; law; medicine; nursing; economics; English literature; physics; maths; "
        "psychology; architecture; biology; philosophy; French and Spanish; mechanical engineering; fine art; music; "
        "politics; geography; sociology; business studies; marine biology; accounting; journalism; film studies"
    ),
    "school": _p(
        "Hillside Primary; St Mary's; Oakwood Academy; Riverside High; Greenfield School; King's College; "
        "the University of Leeds; UCL; Edinburgh Uni; the Open University; Maple Street Elementary; Lincoln High; "
        "Westfield Comprehensive; St Anne's; Parkview Primary; the local sixth form college; Trinity; Imperial"
    ),
    "diet": _p(
        "vegetarian; vegan; pescatarian; on keto; gluten-free; dairy-free; on a low-carb diet; plant-based; "
        "on the Mediterranean diet; halal; kosher; doing intermittent fasting"
    ),
    "pet": _p(
        "cat|Pumpkin; dog|Buster; spaniel|Rolo; beagle|Scout; tabby cat|Whiskers; dog|Pepper; greyhound|Dash; "
        "rabbit|Coco; parrot|Kiwi; labrador|Rocky; cat|Nala; hamster|Peanut; dog|Bruno; cat|Luna; kitten|Mochi; "
        "puppy|Bailey; tortoise|Shelly; guinea pig|Ginger; collie|Skye; cockapoo|Teddy; terrier|Alfie; cat|Simba; "
        "budgie|Sunny; goldfish|Bubbles; husky|Storm; dachshund|Frankie; ragdoll cat|Misty; lurcher|Bramble; "
        "ferret|Pip; gecko|Ziggy; pug|Winston; cat|Oreo; dog|Maple"
    ),
    "child": _p(
        "daughter|Aisha; son|Yusuf; daughter|Maya; son|Sam; son|Leo; daughter|Isla; son|Noah; daughter|Freya; son|Alfie; "
        "daughter|Poppy; son|Ethan; daughter|Ruby; son|Arjun; daughter|Mei; son|Mateo; daughter|Sofia; son|Oscar; "
        "daughter|Amelia; son|Harvey; daughter|Evie; son|Finn; daughter|Nia"
    ),
    "sibling": _p(
        "brother|Tariq; sister|Noor; sister|Harriet; brother|Jamie; sister|Lauren; brother|Kieran; sister|Sophie; "
        "brother|Marcus; sister|Anna; brother|Diego; sister|Yuki; brother|Pavel; sister|Grace; brother|Olly; "
        "half-brother|Josh; stepsister|Becca; twin sister|Ella; little brother|Max; older sister|Kate"
    ),
    "friend": _p(
        "Gareth; Lucia; Dan; Sophie; Raj; Becky; Ollie; Tasha; Kemal; Iris; Jonno; Min-jung; Fergus; Abi; Hamza; "
        "Lottie; Carlos; Bea; Stu; Nadia"
    ),
    "car": _p(
        "silver Honda Civic; Tesla Model 3; Volvo XC60; Skoda Octavia; Fiat 500; Ford Focus; VW Golf; Toyota Prius; "
        "Nissan Leaf; Mini Cooper; Kia Sportage; BMW 3 Series; Audi A4; Vauxhall Corsa; Renault Clio; Mazda MX-5; "
        "Land Rover Defender; Subaru Outback; Hyundai Kona; Peugeot 208; Jeep Wrangler; Ford Ranger pickup; "
        "Citroen Berlingo van; Polestar 2; Honda Jazz; Toyota Yaris; VW Polo; Dacia Duster"
    ),
    "bike": _p(
        "Brompton folding bike; second-hand Trek; Specialized road bike; Boardman hybrid; cargo bike; e-bike; "
        "fixie; Cannondale mountain bike; Vespa scooter; Honda CB500 motorbike; old Raleigh; Giant gravel bike"
    ),
    "colour": _p(
        "red; blue; green; yellow; purple; black; white; orange; pink; grey; teal; navy; burgundy; mustard yellow; "
        "silver; turquoise; lilac; forest green; sky blue; coral"
    ),
    "hair": _p(
        "dark brown; bright pink; blonde; ginger; jet black; grey; platinum blonde; blue; shaved off; short and curly; "
        "long and straight; bleached; auburn; purple; in braids; cut into a bob"
    ),
    "phone": _p(
        "iPhone 12; Pixel 8; Samsung Galaxy S23; iPhone 15 Pro; Nokia brick; OnePlus 11; Fairphone 5; iPhone SE; "
        "Motorola flip phone; Pixel 6a; Galaxy A54; Xperia 5"
    ),
    "number": _p(
        "07700 900123; 07700 900456; 555-0142; 555-0199; +44 7911 123456; 020 7946 0958; +1 415 555 0100; "
        "0161 496 0001; 07700 900782; 555-0187"
    ),
    "email": _p(
        "jo.bennett@gmail.com; jo@bennett.studio; sam.k@outlook.com; me@priyadas.dev; tom.r@protonmail.com; "
        "hello@lenaart.co.uk; mike.w@yahoo.com; ana.silva@work.pt; kit@fastmail.com"
    ),
    "laptop": _p(
        "old ThinkPad X220; MacBook Air M2; Dell XPS 13; MacBook Pro; Surface Laptop; Chromebook; ThinkPad X1 Carbon; "
        "gaming laptop from Lenovo; HP Spectre; Framework laptop"
    ),
    "possession": _p(
        "a piano; a kayak; a 3D printer; a vintage record player; a telescope; a sewing machine; an allotment; "
        "a camper van; a canal boat; a drum kit; a hot tub; a PlayStation 5; a Kindle; a coffee machine; "
        "a holiday cottage in Wales; a greenhouse; a pottery wheel; a motorbike; a caravan; an electric guitar"
    ),
    "allergen": _p(
        "peanuts; penicillin; latex; shellfish; cats; pollen; eggs; cashews; dust mites; wasp stings; sesame; "
        "strawberries; kiwi fruit; ibuprofen; gluten; dairy; bee stings; mustard"
    ),
    "food_allergen": _p(
        "shellfish; eggs; cashews; sesame; strawberries; kiwi fruit; prawns; walnuts; milk; almonds; soy"
    ),
    "allergen_food": _p(
        "shellfish|prawn curry; dairy|cheese on toast; gluten|fresh bread; eggs|an omelette; sesame|hummus; "
        "tree nuts|almond croissants; milk|milky lattes; strawberries|strawberry jam; fish|grilled salmon; wheat|pasta; "
        "soy|tofu stir-fry; kiwi fruit|kiwi smoothies; walnuts|walnut cake; mustard|honey mustard dressing; "
        "celery|celery soup; cashews|cashew curry"
    ),
    "condition": _p(
        "asthma; type 1 diabetes; type 2 diabetes; migraines; a bad back; high blood pressure; ADHD; coeliac disease; "
        "arthritis in my knee; eczema; IBS; tinnitus; a heart murmur; endometriosis; long covid; sleep apnoea"
    ),
    "medication": _p(
        "sertraline|50mg; sertraline|100mg; metformin|500mg; levothyroxine|75 micrograms; ramipril|5mg; "
        "propranolol|40mg; citalopram|20mg; atorvastatin|20mg; insulin|12 units; omeprazole|20mg; "
        "fluoxetine|20mg; lisinopril|10mg"
    ),
    "dose": _p("25mg; 50mg; 75mg; 100mg; 150mg; 200mg; 10mg; 20mg; 40mg; 500mg; 1000mg; 125 micrograms"),
    "days": _p("two; three; four; five; 2; 3; 4; 1"),
    "small_count": _p("two; three; four; five; six; 2; 3; 4; 5; 1; one"),
    "relstatus": _p(
        "I'm single; I'm married; I'm engaged; I'm divorced; I'm in a relationship; I'm separated; I'm widowed; "
        "I'm seeing someone; I'm in a long-distance relationship; I'm recently single"
    ),
    "home": _p(
        "a one-bed flat above a shop; a little terraced house with a garden; a houseboat on the canal; a studio flat; "
        "a semi in the suburbs; a shared house with four others; an old farmhouse; a new-build townhouse; a tiny cottage; "
        "a high-rise apartment; a basement flat; a bungalow near the coast; a council flat; a two-bed maisonette"
    ),
    "teach": _p(
        "year 5 at a primary school; maths at a secondary school; English to adults; yoga classes; piano lessons; "
        "chemistry at a sixth form; history at the university; reception class; swimming to kids; French at a grammar school"
    ),
    "smoke": _p("about ten a day; half a pack a day; twenty a day; the odd cigarette at weekends; a few roll-ups a day; a pack a day"),
    "coffee_amount": _p(
        "four coffees a day; two cups of tea a day; an espresso every couple of hours; three lattes a day; "
        "one coffee in the morning; five cans of Diet Coke a day; six cups of builder's tea a day"
    ),
    "drinking": _p(
        "a glass of wine most evenings; a few pints at the weekend; a beer after work most days; a gin on Fridays; "
        "a couple of drinks a week"
    ),
    "weight": _p("82 kilos; 76 kg; 13 stone; 11 and a half stone; 180 pounds; 165 lbs; 70 kilos; 95 kg; 64 kg; 9 stone 4"),
    "time": _p(
        "Thursday 1pm; next Monday 10:45; Monday at 9am; Friday at 3:30; the 14th at 10am; Wednesday morning; "
        "tomorrow at noon; the 3rd of June; Saturday at 8:40; half past four on Monday; 10am on Tuesday; "
        "Thursday at 3pm; the 21st; next Wednesday at 9:15; Tuesday at 10am; the 16th; Monday afternoon; "
        "Friday evening; 7pm; 7:30pm; the 28th; the 1st; 6:40 on Friday; 8:40 on Friday; the last Friday of the month; "
        "the first Monday of the month; Sunday at 11; the 9th of October; 4:15 on Wednesday; the 2nd of March"
    ),
    "clock": _p("6am; 7:30; half six; 5:45; 8 o'clock; 7am; quarter to seven; 9; 6:15; 10pm; 11pm; midnight; 5am"),
    "day": _p("Monday; Tuesday; Wednesday; Thursday; Friday; Saturday; Sunday; weekday evenings; the weekends; Monday mornings"),
    "count": _p("two; three; four; five; six; seven; eight; ten; twelve; 2; 3; 4; 5; 6; 9; 11; 15; 20"),
    "band": _p(
        "Radiohead; Taylor Swift; Fleetwood Mac; Arctic Monkeys; Beyonce; Coldplay; The Cure; Kendrick Lamar; "
        "Wet Leg; Blur; Oasis; Bon Iver; Queen; ABBA; Nirvana; Little Simz; Stormzy; Metallica; Adele; The Beatles"
    ),
    "show": _p(
        "Breaking Bad; Succession; The Office; Friends; The Sopranos; Fleabag; Line of Duty; The Wire; Bake Off; "
        "Severance; Ted Lasso; Gavin and Stacey; Peep Show; The Bear; Slow Horses; Mad Men; Doctor Who; Taskmaster"
    ),
    "film": _p(
        "The Godfather; Paddington 2; Spirited Away; Jaws; Alien; Amelie; Heat; Arrival; Parasite; Inception; "
        "The Princess Bride; Hot Fuzz; Toy Story; Casablanca; Dune; Whiplash"
    ),
    "book": _p(
        "Middlemarch; The Hobbit; Dune; Pride and Prejudice; Normal People; The Secret History; Jane Eyre; "
        "Piranesi; 1984; The Road; Beloved; Catch-22; Rebecca; Circe; Wolf Hall"
    ),
    "season": _p("spring; summer; autumn; fall; winter"),
    "food": _p(
        "Thai green curry; Ethiopian food; sushi; dim sum; pizza; ramen; tacos; a good roast dinner; lasagne; "
        "pho; paella; dark chocolate; blue cheese; olives; spicy food; Korean fried chicken; fish and chips; "
        "halloumi; mango; sourdough; croissants; pad thai; biryani; jollof rice; pierogi; falafel"
    ),
    "drink": _p("black coffee; oat lattes; green tea; red wine; craft beer; gin and tonic; kombucha; whisky; espresso; chai"),
    "hobby": _p(
        "bouldering; pottery; sailing; knitting; running; birdwatching; baking sourdough; playing the cello; "
        "wild swimming; chess; woodworking; salsa dancing; gardening; photography; rock climbing; cycling; yoga; "
        "painting watercolours; playing the guitar; surfing; hiking; archery; fencing; crossword puzzles; "
        "fly fishing; kayaking; sewing; board games; DJing; calligraphy; ice skating; playing the piano; "
        "stand-up paddleboarding; parkrun; tennis; badminton; five-a-side football; roller derby; jigsaws; beekeeping"
    ),
    "language": _p(
        "French; Japanese; Spanish; German; Italian; Mandarin; Portuguese; Arabic; Welsh; Korean; Russian; Dutch; "
        "Hindi; Swahili; Polish; Greek; Turkish; Irish; Norwegian; British Sign Language; Cantonese; Urdu"
    ),
    "tech": _p(
        "Python; Django; React; Rust; TypeScript; Go; Java; SQL; "
        "Swift; Kotlin; Vue; PyTorch; Haskell; C++; Ruby on Rails; Spark; JavaScript; PHP; Scala; Elixir; pandas; FastAPI"
    ),
    "tool": _p(
        "Excel; Figma; Photoshop; Blender; Unity; AWS; Illustrator; AutoCAD; Premiere Pro; Tableau; Power BI; Jira; "
        "Logic Pro; InDesign; SketchUp; Salesforce"
    ),
    "team": _p(
        "Liverpool; Arsenal; Celtic; the Chicago Bulls; the Yankees; Manchester United; Leeds United; the All Blacks; "
        "Spurs; Barcelona; the Green Bay Packers; Wrexham; Bayern Munich; the Lakers; Newcastle; the Red Sox"
    ),
    "gym": _p(
        "PureGym near the station; Boulder Barn; the leisure centre; The Gym Group; a CrossFit box in town; "
        "David Lloyd; Planet Fitness; the council pool; a boxing gym on the high street; Anytime Fitness"
    ),
    "club": _p(
        "book club; choir; the running club; five-a-side; the chess club; pub quiz; Spanish class; pottery class; "
        "the climbing club; D&D night; band practice; the allotment society; swimming lessons"
    ),
    "belief": _p(
        "I'm Catholic; I'm a practising Muslim; I'm an atheist; I'm Jewish; I'm a Buddhist; I vote Green; "
        "I'm a lifelong Labour voter; I'm a Quaker; I'm Hindu; I'm agnostic; I'm a committed environmentalist"
    ),
    "fear": _p(
        "spiders; heights; flying; deep water; clowns; needles; the dentist; public speaking; snakes; thunderstorms; "
        "lifts; driving on motorways; dogs; the dark; crowds; wasps"
    ),
    "nationality": _p(
        "Nigerian; Polish; Irish; Brazilian; Canadian; Japanese; Scottish; Welsh; Indian; Mexican; German; Kenyan; "
        "Australian; Filipino; Dutch; Italian; Korean; Ghanaian"
    ),
    "name": _p(
        "Jess Walker|Jess Moreno; Sam Patel|Sam Okoro; Lena Fischer|Lena Brooks; Tom Hughes|Tom Hughes-Reid; "
        "Amy Clarke|Amy Novak; Raj Mehta|Raj Mehta-Lee; Chloe Evans|Chloe Byrne; Dan Smith|Dan Kowalski; "
        "Hannah Lee|Hannah Kim; Mike Burns|Mike Adeyemi"
    ),
    "birthday": _p(
        "the 9th of October; 12 May; the 21st of May; March 3rd; Christmas Eve; New Year's Day; the 30th of June; "
        "August 14th; 2 February; the 17th of November; Halloween; the 1st of April"
    ),
    "nickname": _p("Jess; Sammy; Lenny; Bea; Mo; Kit; Tash; Robbie; Al; Fi; Gus; Izzy"),
    "trip": _p(
        "Japan; a road trip round Scotland; Lisbon; Iceland; a week in Crete; the Lake District; New York; Vietnam; "
        "a cycling holiday in the Alps; Marrakech; interrailing round Europe; a cruise to Norway; Peru; Sri Lanka"
    ),
    "goal": _p(
        "a triathlon in August; my first marathon; the London half; a 10k in May; the Three Peaks; a charity swim; "
        "my driving test; the bar exam; a Spanish B2 exam; a 100-mile bike ride; my black belt"
    ),
    "instrument": _p("the cello; the guitar; the piano; the drums; the violin; the ukulele; the saxophone; the trumpet; the bass"),
    "rent": _p("£950 a month; £1,100; £1,400 a month; $2,200 a month; €850; £700 a month; $1,650; £1,250 a month"),
    "provider": _p("Virgin Media; BT; Sky; Octopus Energy; British Gas; EDF; Vodafone; EE; Three; Plusnet; Comcast; Verizon"),
    "bank": _p("Barclays; Monzo; Starling; HSBC; Lloyds; Nationwide; Santander; Chase; NatWest; Revolut; Wells Fargo"),
    "doctor": _p("Dr. Patel; Dr. Lindqvist; Dr Evans; Dr. Okafor; Dr Moreau; Dr. Singh; Dr. Kowalczyk; Dr Brennan"),
    "team_name": _p(
        "payments; search; platform; data; mobile; growth; infrastructure; checkout; customer support; design systems; "
        "security; billing"
    ),
    "pb": _p("52 minutes; 48:30; 55 minutes; 44:10; 1:58 for the half; 3:45 for the marathon; 25 minutes for 5k; 22:40"),
    "distance": _p("5k; 10k; twenty miles; 30 km; 15 miles; 40k; 8 miles; 100 km"),
    "commute": _p(
        "I cycle to work every day; I take the train in; I drive to work; I walk to the office; I get the bus; "
        "I work from home so no commute; I take the Tube; I get the ferry across; I car-share with a colleague; "
        "I scoot to work on an e-scooter"
    ),
}
# fmt: on
