/** Word lists the generator draws from (ASCII, no tabs or backslashes: safe in COPY text format). */

export const FIRST_NAMES = (
  'James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph ' +
  'Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret ' +
  'Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa ' +
  'George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob ' +
  'Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott ' +
  'Samantha Brandon Katherine Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank ' +
  'Janet Raymond Maria Jack Olivia Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Ruth ' +
  'Nathan Virginia Henry Lauren Zachary Kelly Douglas Christina Peter Joan Kyle Evelyn Noah Judith Ethan Andrea ' +
  'Jeremy Hannah Walter Megan Christian Cheryl Keith Jacqueline Roger Martha Terry Madison Austin Teresa Sean ' +
  'Gloria Gerald Sara Carl Janice Harold Ann Dylan Kathryn Arthur Abigail Lawrence Sophia Jordan Frances Jesse ' +
  'Jean Bryan Alice Billy Judy Bruce Isabella Gabriel Julia Joe Grace Logan Amber Alan Denise Juan Danielle Albert ' +
  'Marilyn Willie Beverly Elijah Charlotte Wayne Natalie Randy Theresa Vincent Diana Mason Brittany Roy Doris Ralph ' +
  'Kayla Bobby Alexis Russell Lori Bradley Marie Philip Ava Eugene Mia Zoe Liam Lucas Omar Yuki Priya Chen Ahmed ' +
  'Fatima Ivan Olga Pierre Ingrid Mateo Sofia Kwame Amara Hiro Mei Ravi Anya Lars Elif'
).split(' ');

export const LAST_NAMES = (
  'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson ' +
  'Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson ' +
  'Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell ' +
  'Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris ' +
  'Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward ' +
  'Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel ' +
  'Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes ' +
  'Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace ' +
  'Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens ' +
  'Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns ' +
  "Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes O'Brien"
).split(' ');

/** [state, cities]: states and cities drawn with Zipf weights, so a few are crowded and most are sparse. */
export const PLACES: readonly (readonly [string, readonly string[]])[] = [
  ['CA', ['Los Angeles', 'San Francisco', 'San Diego', 'San Jose', 'Sacramento', 'Oakland', 'Fresno']],
  ['TX', ['Houston', 'Austin', 'Dallas', 'San Antonio', 'El Paso', 'Fort Worth']],
  ['NY', ['New York', 'Buffalo', 'Rochester', 'Albany', 'Syracuse']],
  ['FL', ['Miami', 'Orlando', 'Tampa', 'Jacksonville', 'Tallahassee']],
  ['IL', ['Chicago', 'Springfield', 'Naperville', 'Peoria']],
  ['PA', ['Philadelphia', 'Pittsburgh', 'Allentown', 'Erie']],
  ['OH', ['Columbus', 'Cleveland', 'Cincinnati', 'Toledo']],
  ['GA', ['Atlanta', 'Savannah', 'Augusta']],
  ['NC', ['Charlotte', 'Raleigh', 'Durham', 'Greensboro']],
  ['MI', ['Detroit', 'Grand Rapids', 'Ann Arbor', 'Lansing']],
  ['WA', ['Seattle', 'Spokane', 'Tacoma', 'Bellevue']],
  ['MA', ['Boston', 'Cambridge', 'Worcester']],
  ['AZ', ['Phoenix', 'Tucson', 'Mesa']],
  ['CO', ['Denver', 'Boulder', 'Colorado Springs']],
  ['OR', ['Portland', 'Eugene', 'Salem']],
  ['MN', ['Minneapolis', 'Saint Paul', 'Duluth']],
  ['TN', ['Nashville', 'Memphis', 'Knoxville']],
  ['MO', ['Kansas City', 'Saint Louis']],
  ['LA', ['New Orleans', 'Baton Rouge']],
  ['UT', ['Salt Lake City', 'Provo']],
  ['NV', ['Las Vegas', 'Reno']],
  ['WI', ['Milwaukee', 'Madison']],
  ['VA', ['Richmond', 'Arlington', 'Norfolk']],
  ['MD', ['Baltimore', 'Annapolis']],
  ['NM', ['Albuquerque', 'Santa Fe']],
  ['ME', ['Portland', 'Bangor']],
  ['VT', ['Burlington']],
  ['AK', ['Anchorage', 'Juneau']],
  ['HI', ['Honolulu', 'Hilo']],
  ['WY', ['Cheyenne']],
];

export const INTERESTS = (
  'music movies travel photography cooking gaming reading fitness hiking football basketball soccer art ' +
  'technology programming fashion dogs cats yoga running cycling chess anime coffee wine gardening history ' +
  'science astronomy podcasts theater dance skiing surfing climbing fishing camping crafts knitting baking ' +
  'politics economics philosophy languages poetry writing jazz classical metal opera kpop crypto investing ' +
  'startups robotics drones woodworking pottery birdwatching genealogy calligraphy origami beekeeping falconry ' +
  // the long tail: niche interests a few hundredths of a percent of people share
  'bonsai lockpicking taxidermy speedcubing geocaching kitesurfing fencing archery curling lacrosse rugby cricket ' +
  'handball orienteering sailing rowing canoeing spelunking paragliding skydiving bouldering parkour unicycling ' +
  'juggling magic ventriloquism puppetry mime improv standup karaoke beatboxing dj-ing synthesizers ukulele banjo ' +
  'harp bagpipes accordion theremin glassblowing blacksmithing leatherwork bookbinding letterpress quilting ' +
  'embroidery macrame weaving soapmaking candlemaking perfumery mycology foraging homebrewing cheesemaking ' +
  'fermentation sourdough barbecue mixology tea-ceremony ikebana shogi go mahjong bridge backgammon crosswords'
).split(' ');

export const FORUM_CATEGORIES = (
  'general announcements introductions help-desk feedback off-topic music movies gaming technology programming ' +
  'sports travel food books art science politics marketplace events'
).split(' ');

export const WORDS = (
  'the a to and of in is it you that for on with this be are have at not was but what so just my we all can ' +
  'about your they get like one do if out up time know me there now when will how think see good new great ' +
  'really want people going day back much would more make here well work right today thanks love yes no maybe ' +
  'tonight tomorrow weekend game music movie food coffee party meeting plan idea photo video link news room ' +
  'chat friend team project release update question answer problem fixed broken awesome nice cool funny sure ' +
  'agree later soon morning evening happy sorry please help check look watch read call share join welcome'
).split(' ');
