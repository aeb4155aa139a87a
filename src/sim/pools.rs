//! The vocabularies the simulated tenants draw from: people, applications, places, error codes.
//! Values are taken from Microsoft's documentation and examples of real Graph records.

pub const FIRST_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Ben",
    "Christie",
    "Debra",
    "Diego",
    "Emily",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Sakura",
    "Yuki",
    "Zoe",
    "Aisha",
    "Mateo",
    "Priya",
    "Tomasz",
    "Ingrid",
];

pub const LAST_NAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Walker",
    "Cline",
    "Berger",
    "Siciliani",
    "Braun",
    "Archie",
    "Gerhart",
    "Henderson",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Razi",
    "Tanaka",
    "Sato",
    "Novak",
    "Okafor",
    "Rossi",
    "Larsen",
];

/// Names with non-ASCII text: accents, right-to-left scripts, CJK, a non-breaking space and a
/// right-to-left mark, as seen in real tenants.
pub const NON_ASCII_NAMES: &[&str] = &[
    "Zoë Ünal",
    "محمد الأحمد",
    "דנה כהן\u{200f}",
    "王伟",
    "Søren Ødegård",
    "Łukasz Żółć",
    "José\u{a0}Núñez",
    "Ελένη Παπαδοπούλου",
];

pub const TENANT_NAMES: &[&str] = &[
    "contoso",
    "fabrikam",
    "northwind",
    "adatum",
    "tailspin",
    "woodgrove",
    "litware",
    "proseware",
    "wingtip",
    "fourthcoffee",
    "lucernepublishing",
    "margiestravel",
    "alpineskihouse",
    "relecloud",
];

/// First-party client applications (appId, display name).
pub const CLIENT_APPS: &[(&str, &str)] = &[
    (
        "00000002-0000-0ff1-ce00-000000000000",
        "Office 365 Exchange Online",
    ),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"),
    ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal"),
    ("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office"),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome"),
    ("2793995e-0a7d-40d7-bd35-6968ba142197", "My Apps"),
    (
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "Microsoft Azure CLI",
    ),
    (
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
        "Microsoft Authentication Broker",
    ),
    (
        "00000003-0000-0ff1-ce00-000000000000",
        "Office 365 SharePoint Online",
    ),
    (
        "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7",
        "Office365 Shell WCSS-Client",
    ),
    ("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile"),
    (
        "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        "Microsoft Graph Command Line Tools",
    ),
];

/// Resources signed in to (resourceId, display name).
pub const RESOURCES: &[(&str, &str)] = &[
    (
        "00000002-0000-0000-c000-000000000000",
        "Windows Azure Active Directory",
    ),
    ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
    (
        "00000002-0000-0ff1-ce00-000000000000",
        "Office 365 Exchange Online",
    ),
    (
        "00000003-0000-0ff1-ce00-000000000000",
        "Office 365 SharePoint Online",
    ),
    (
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "Windows Azure Service Management API",
    ),
    (
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
        "Microsoft Teams Services",
    ),
    ("00000007-0000-0000-c000-000000000000", "Dataverse"),
];

/// Workload names for service principals and managed identities.
pub const WORKLOAD_NAMES: &[&str] = &[
    "backup-orchestrator",
    "hr-sync",
    "siem-forwarder",
    "billing-api",
    "ci-deployer",
    "payroll-export",
    "terraform-prod",
    "inventory-service",
    "mail-relay",
    "reporting-etl",
];

pub const AZURE_REGIONS: &[&str] = &["westeurope", "northeurope", "eastus", "eastus2", "uksouth"];

/// Places sign-ins come from: city, state, ISO 3166 alpha-2 country, latitude, longitude, ASN.
pub const LOCATIONS: &[(&str, &str, &str, f64, f64, u32)] = &[
    ("Seattle", "Washington", "US", 47.6062, -122.3321, 8075),
    ("Redmond", "Washington", "US", 47.6740, -122.1215, 8075),
    ("New York", "New York", "US", 40.7128, -74.0060, 7922),
    ("Chicago", "Illinois", "US", 41.8781, -87.6298, 7018),
    ("London", "England", "GB", 51.5072, -0.1276, 2856),
    ("Manchester", "England", "GB", 53.4808, -2.2426, 5089),
    ("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, 1136),
    ("Berlin", "Berlin", "DE", 52.5200, 13.4050, 3320),
    ("Munich", "Bayern", "DE", 48.1351, 11.5820, 3320),
    ("Paris", "Ile-de-France", "FR", 48.8566, 2.3522, 3215),
    ("Zurich", "Zurich", "CH", 47.3769, 8.5417, 3303),
    ("Stockholm", "Stockholms Lan", "SE", 59.3293, 18.0686, 3301),
    ("Warsaw", "Mazowieckie", "PL", 52.2297, 21.0122, 5617),
    ("Bengaluru", "Karnataka", "IN", 12.9716, 77.5946, 24560),
    ("Tokyo", "Tokyo", "JP", 35.6762, 139.6503, 2516),
    ("Singapore", "Singapore", "SG", 1.3521, 103.8198, 4773),
    ("Sydney", "New South Wales", "AU", -33.8688, 151.2093, 1221),
    ("Sao Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, 28573),
    ("Lagos", "Lagos", "NG", 6.5244, 3.3792, 29465),
    ("Moscow", "Moscow", "RU", 55.7558, 37.6173, 12389),
];

/// Operating systems and browsers of sign-in devices.
pub const DEVICE_PLATFORMS: &[(&str, &str)] = &[
    ("Windows 10", "Edge 120.0.0"),
    ("Windows 11", "Edge 121.0.0"),
    ("Windows 11", "Chrome 121.0.0"),
    ("MacOs", "Safari 17.2"),
    ("MacOs", "Chrome 120.0.0"),
    ("Ios 17.2", "Mobile Safari 17.2"),
    ("Android 14", "Chrome Mobile 120.0.0"),
    ("Linux", "Firefox 122.0"),
    ("Windows10", "Rich Client 5.2.0.0"),
];

pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Windows-AzureAD-Authentication-Provider/1.0",
    "python-requests/2.31.0",
];

/// Sign-in status codes with their failure reasons and weights; 0 is success.
pub const SIGN_IN_STATUSES: &[((i64, &str, &str), u32)] = &[
    ((0, "", ""), 820),
    (
        (
            50126,
            "Error validating credentials due to invalid username or password.",
            "The user didn't enter the right credentials.",
        ),
        50,
    ),
    (
        (
            50074,
            "Strong Authentication is required.",
            "The user is required to complete multi-factor authentication.",
        ),
        30,
    ),
    (
        (
            50140,
            "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
            "",
        ),
        20,
    ),
    (
        (
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            "",
        ),
        20,
    ),
    (
        (
            500121,
            "Authentication failed during strong authentication request.",
            "The user didn't complete the MFA prompt.",
        ),
        15,
    ),
    (
        (
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access.",
            "",
        ),
        15,
    ),
    (
        (
            50053,
            "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
            "",
        ),
        5,
    ),
    (
        (
            50057,
            "User account is disabled. The account has been disabled by an administrator.",
            "",
        ),
        5,
    ),
    (
        (
            50034,
            "The user account does not exist in the directory.",
            "",
        ),
        8,
    ),
    (
        (
            70043,
            "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
            "",
        ),
        7,
    ),
    ((530032, "Blocked by security defaults.", ""), 5),
];

pub const SERVICE_PRINCIPAL_STATUSES: &[((i64, &str, &str), u32)] = &[
    ((0, "", ""), 930),
    ((7000215, "Invalid client secret is provided.", ""), 30),
    (
        (7000222, "The provided client secret keys are expired.", ""),
        15,
    ),
    (
        (700027, "Client assertion failed signature validation.", ""),
        10,
    ),
    (
        (
            700016,
            "Application with identifier was not found in the directory.",
            "",
        ),
        15,
    ),
];

pub const CONDITIONAL_ACCESS_POLICIES: &[(&str, &[&str])] = &[
    ("Require MFA for admins", &["Mfa"]),
    ("Require MFA for all users", &["Mfa"]),
    ("Block legacy authentication", &["Block"]),
    ("Require compliant device", &["RequireCompliantDevice"]),
    (
        "Require hybrid Azure AD joined device",
        &["RequireDomainJoinedDevice"],
    ),
    ("Block access from untrusted countries", &["Block"]),
    ("Require approved client app", &["RequireApprovedApp"]),
    ("Sign-in risk policy", &["Mfa"]),
];

pub const CA_RESULTS: &[(&str, u32)] = &[
    ("success", 40),
    ("notApplied", 35),
    ("notEnabled", 10),
    ("reportOnlySuccess", 5),
    ("reportOnlyNotApplied", 5),
    ("failure", 3),
    ("reportOnlyFailure", 1),
    ("reportOnlyInterrupted", 1),
];

pub const RISK_LEVELS: &[(&str, u32)] = &[
    ("none", 900),
    ("low", 40),
    ("medium", 25),
    ("high", 10),
    ("hidden", 25),
];

pub const RISK_EVENT_TYPES: &[&str] = &[
    "unfamiliarFeatures",
    "anonymizedIPAddress",
    "impossibleTravel",
    "maliciousIPAddress",
    "passwordSpray",
    "leakedCredentials",
];

/// Authentication methods of the second step (method, detail).
pub const MFA_METHODS: &[(&str, &str)] = &[
    ("Mobile app notification", "Microsoft Authenticator"),
    ("OATH verification code", "Microsoft Authenticator"),
    ("Text message", "SMS"),
    ("Phone call approval (Authentication phone)", "Phone call"),
    ("FIDO2 security key", "FIDO2"),
    ("Windows Hello for Business", "Windows Hello"),
];

pub const CLIENT_APPS_USED: &[(&str, u32)] = &[
    ("Browser", 60),
    ("Mobile Apps and Desktop clients", 35),
    ("Exchange ActiveSync", 2),
    ("IMAP4", 1),
    ("Authenticated SMTP", 1),
    ("Other clients", 1),
];

pub const ADMIN_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
];

pub const GROUP_NAMES: &[&str] = &[
    "All Employees",
    "Finance",
    "Engineering",
    "Sales EMEA",
    "Helpdesk Operators",
    "Privileged Access Admins",
    "Contractors",
    "M365 E5 Licensing",
    "VPN Users",
    "Break Glass",
];

/// Apps that act in directory audits.
pub const AUDIT_ACTOR_APPS: &[(&str, &str)] = &[
    ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
    ("01fc33a7-78ba-4d2f-a4b7-768e336e890e", "MS-PIM"),
    (
        "bf9fc203-c1ff-4fd4-878b-323642e462ec",
        "Azure AD Cloud Sync",
    ),
    (
        "dd762716-544d-4aeb-a526-687b73838a22",
        "Device Registration Service",
    ),
    (
        "5b3e1a2f-8a7e-4c3a-9b8f-2f1c3e9d6a11",
        "Microsoft Azure AD Group-Based Licensing",
    ),
];

pub const PROVISIONING_APPS: &[(&str, &str)] = &[
    ("Workday to Azure AD User Provisioning", "Workday"),
    ("ServiceNow", "Azure Active Directory"),
    ("Salesforce", "Azure Active Directory"),
    ("Slack", "Azure Active Directory"),
    (
        "SuccessFactors to Active Directory User Provisioning",
        "SAP SuccessFactors",
    ),
];
