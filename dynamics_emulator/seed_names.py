"""Name material for the deterministic demo and bench data (German and English)."""

FIRST_DE = ["Anna", "Lukas", "Lena", "Maximilian", "Sophie", "Felix", "Marie", "Jonas", "Laura",
            "Paul", "Hannah", "Leon", "Johanna", "Tobias", "Katharina", "Florian", "Julia",
            "Matthias", "Sabine", "Jürgen", "Ursula", "Stefan", "Birgit", "Andreas"]
LAST_DE = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
           "Huber", "Gruber", "Bauer", "Steiner", "Mayr", "Hofer", "Leitner", "Pichler"]
FIRST_EN = ["James", "Olivia", "William", "Emma", "Oliver", "Amelia", "Harry", "Isla", "George",
            "Ava", "Jack", "Mia", "Thomas", "Grace", "Charlie", "Lily", "Daniel", "Chloe",
            "Samuel", "Ella", "Joseph", "Emily", "Henry", "Sophia"]
LAST_EN = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
           "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
           "Hall", "Wood", "Jackson", "Clarke", "O'Brien", "Hughes", "Edwards", "Turner"]
COMPANY_DE = ["Alpenblick", "Donautal", "Bergwerk", "Sonnenhof", "Waldmeister", "Rheinland",
              "Seeblick", "Nordlicht", "Edelweiss", "Bodensee", "Schwarzwald", "Isartal"]
COMPANY_EN = ["Northwind", "Blue Harbor", "Redwood", "Silverline", "Oakridge", "Brightstone",
              "Greenfield", "Highgate", "Kingsbridge", "Westbrook", "Riverside", "Stonebridge"]
SUFFIX_DE = ["GmbH", "AG", "KG", "GmbH & Co. KG", "e.U."]
SUFFIX_EN = ["Ltd", "plc", "Inc.", "LLC", "Group"]
CITIES_DE = [("Wien", "1010", "Österreich"), ("Linz", "4020", "Österreich"),
             ("München", "80331", "Deutschland"), ("Berlin", "10115", "Deutschland"),
             ("Graz", "8010", "Österreich"), ("Hamburg", "20095", "Deutschland")]
CITIES_EN = [("London", "EC1A 1BB", "United Kingdom"), ("Manchester", "M1 1AE", "United Kingdom"),
             ("Dublin", "D01 F5P2", "Ireland"), ("Leeds", "LS1 1UR", "United Kingdom")]
JOBS_DE = ["Geschäftsführerin", "Einkaufsleiter", "Marketingleiterin", "Vertriebsmitarbeiter",
           "Assistenz der Geschäftsführung"]
JOBS_EN = ["Managing Director", "Purchasing Manager", "Head of Marketing", "Sales Representative",
           "Office Manager"]
