<map version="1.0.1">
<!-- Knowledge items for the 12345 hotline. Fields are node attributes; see deploy/seed/knowledge/README.md -->
<node TEXT="医保业务">
  <attribute NAME="kind" VALUE="item"/>
  <attribute NAME="code" VALUE="YB"/>
  <attribute NAME="class" VALUE="consultation"/>
  <attribute NAME="matter_code" VALUE="15.01.004"/>
  <attribute NAME="owner" VALUE="GZ-RS"/>
  <node TEXT="婴幼儿">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-1"/>
    <node TEXT="本市户籍">
      <attribute NAME="kind" VALUE="situation"/>
      <attribute NAME="code" VALUE="YB-TJ-2"/>
      <node TEXT="未参加城乡居民（含大病）医保">
        <attribute NAME="kind" VALUE="situation"/>
        <attribute NAME="code" VALUE="YB-TJ-4"/>
        <node TEXT="2026年度缴费和资助标准">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-10"/>
          <attribute NAME="answer" VALUE="城乡居民医保按年度缴费，个人缴费标准和财政补助标准由市医疗保障部门会同财政部门每年公布，以当年公布的缴费标准为准。&#xa;婴幼儿按“未成年人”档次缴费；属于低保、特困、低收入家庭等资助对象的，个人缴费部分按规定由财政资助，参保时由经办机构根据部门共享信息自动认定，无需另行申请。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. 在“穗好办”或“粤医保”查询当年缴费标准；&#xa;2. 登记参保后，通过税务部门渠道（粤税通、银行代扣或办税服务厅）缴费。"/>
          <attribute NAME="fees" VALUE="个人缴费以当年公布的缴费标准为准；资助对象个人部分按规定由财政资助。"/>
          <attribute NAME="time_limit" VALUE="集中缴费期以当年通知为准"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="expires_on" VALUE="2027-01-01"/>
          <attribute NAME="keyword" VALUE="缴费标准"/>
          <attribute NAME="keyword" VALUE="资助"/>
          <attribute NAME="keyword" VALUE="城乡居民医保"/>
          <attribute NAME="keyword" VALUE="婴幼儿"/>
          <attribute NAME="synonym" VALUE="医保费多少钱"/>
          <attribute NAME="synonym" VALUE="少儿医保费用"/>
        </node>
        <node TEXT="参保登记">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-11"/>
          <attribute NAME="answer" VALUE="本市户籍婴幼儿可由监护人在网上或线下办理城乡居民医保参保登记。新生儿可在办理出生登记、户口登记后一并办理参保（“出生一件事”联办）。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. 网上：“穗好办”APP或“粤医保”小程序 → 城乡居民参保登记 → 填写婴幼儿信息并提交；&#xa;2. 线下：携带材料到户籍所在地街道（镇）政务服务中心办理；&#xa;3. 登记成功后按通知缴费。"/>
          <attribute NAME="material" VALUE="婴幼儿户口簿或出生医学证明"/>
          <attribute NAME="material" VALUE="监护人有效身份证件"/>
          <attribute NAME="fees" VALUE="不收取登记费用"/>
          <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="参保登记"/>
          <attribute NAME="keyword" VALUE="新生儿"/>
          <attribute NAME="keyword" VALUE="出生一件事"/>
          <attribute NAME="synonym" VALUE="少儿医保办理"/>
          <attribute NAME="synonym" VALUE="宝宝买医保"/>
        </node>
        <node TEXT="中途参保">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-12"/>
          <attribute NAME="answer" VALUE="新生儿在出生后规定期限内（以现行规定为准）参保并缴费的，可自出生之日起享受城乡居民医保待遇；超过期限或其他婴幼儿在集中缴费期外中途参保的，按规定设有待遇等待期，等待期内发生的医疗费用不予报销。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. 办理参保登记；&#xa;2. 按通知足额缴纳当年度个人缴费；&#xa;3. 缴费到账后，在“粤医保”查询待遇享受起始日期。"/>
          <attribute NAME="material" VALUE="婴幼儿户口簿或出生医学证明"/>
          <attribute NAME="material" VALUE="监护人有效身份证件"/>
          <attribute NAME="time_limit" VALUE="缴费到账后次月起可查询参保状态"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="中途参保"/>
          <attribute NAME="keyword" VALUE="等待期"/>
          <attribute NAME="keyword" VALUE="新生儿"/>
          <attribute NAME="synonym" VALUE="年中买医保"/>
        </node>
      </node>
      <node TEXT="已参加城乡居民（含大病）医保">
        <attribute NAME="kind" VALUE="situation"/>
        <attribute NAME="code" VALUE="YB-TJ-5"/>
        <node TEXT="停保减员">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-13"/>
          <attribute NAME="answer" VALUE="已参加城乡居民医保、需要停保的（例如转为参加职工医保、迁出本市），可申请停止参保。已缴纳的当年度费用一般不予退还，当年度待遇继续享受至年度末（以现行规定为准）。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. “穗好办”或“粤医保” → 城乡居民医保停保；&#xa;2. 或携带材料到参保地街道（镇）政务服务中心办理。"/>
          <attribute NAME="material" VALUE="参保人有效身份证件或户口簿"/>
          <attribute NAME="material" VALUE="代办的，另需监护人或代办人身份证件"/>
          <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="停保"/>
          <attribute NAME="keyword" VALUE="减员"/>
          <attribute NAME="keyword" VALUE="退保"/>
          <attribute NAME="synonym" VALUE="不想买医保了"/>
        </node>
        <node TEXT="城乡居民医疗保险参保缴费状态查询">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-14"/>
          <attribute NAME="answer" VALUE="可在网上查询参保状态、缴费记录和待遇享受期。缴费后到账需要一定时间，刚缴费未能查到的，请稍后再查。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. “粤医保”小程序 → 参保信息查询；&#xa;2. “穗好办”APP → 医保 → 参保缴费查询；&#xa;3. 也可到经办窗口或自助终端查询。"/>
          <attribute NAME="time_limit" VALUE="即时查询"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="参保查询"/>
          <attribute NAME="keyword" VALUE="缴费记录"/>
          <attribute NAME="keyword" VALUE="参保状态"/>
          <attribute NAME="synonym" VALUE="查医保"/>
          <attribute NAME="synonym" VALUE="医保交了没有"/>
        </node>
        <node TEXT="城乡居民医保参保变更个人资料">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-2"/>
          <attribute NAME="answer" VALUE="姓名、身份证号码等身份信息以公安户籍信息为准，户籍信息变更后，医保信息一般自动同步；未同步或需变更联系电话、地址、门诊统筹定点机构的，可申请变更。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. 联系电话、地址：在“粤医保”自助修改；&#xa;2. 身份信息：先到公安机关变更户籍信息，再到医保经办窗口申请同步；&#xa;3. 门诊统筹定点机构：在“粤医保”按规定时间变更。"/>
          <attribute NAME="material" VALUE="参保人有效身份证件或户口簿"/>
          <attribute NAME="material" VALUE="身份信息变更的，提供公安机关出具的变更证明"/>
          <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="变更资料"/>
          <attribute NAME="keyword" VALUE="个人信息"/>
          <attribute NAME="keyword" VALUE="门诊统筹定点"/>
        </node>
        <node TEXT="城乡居民医保费重收、多收、错收退款">
          <attribute NAME="kind" VALUE="answer"/>
          <attribute NAME="code" VALUE="YB-JD-3"/>
          <attribute NAME="answer" VALUE="因重复缴费、多缴或错缴产生的医保费，可申请退费。经医保经办机构核实后，由税务部门按规定退回原缴费账户或申请人指定的本人银行账户。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
          <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
          <attribute NAME="department" VALUE="GZ-YB"/>
          <attribute NAME="procedure" VALUE="1. 到医保经办窗口或通过“穗好办”提交退费申请；&#xa;2. 医保经办机构核实确认；&#xa;3. 税务部门办理退款，退款到账时间以告知为准。"/>
          <attribute NAME="material" VALUE="参保人有效身份证件或户口簿"/>
          <attribute NAME="material" VALUE="缴费凭证"/>
          <attribute NAME="material" VALUE="本人（或监护人）银行账户信息"/>
          <attribute NAME="time_limit" VALUE="以经办机构和税务部门告知的时限为准"/>
          <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
          <attribute NAME="effective_from" VALUE="2026-01-01"/>
          <attribute NAME="keyword" VALUE="退费"/>
          <attribute NAME="keyword" VALUE="重复缴费"/>
          <attribute NAME="keyword" VALUE="多收"/>
          <attribute NAME="keyword" VALUE="错收"/>
          <attribute NAME="synonym" VALUE="医保费退款"/>
          <attribute NAME="synonym" VALUE="交多了"/>
        </node>
        <node TEXT="未申领城乡居民医保就医凭证">
          <attribute NAME="kind" VALUE="situation"/>
          <attribute NAME="code" VALUE="YB-TJ-6"/>
          <node TEXT="激活医保电子凭证或申领社保卡">
            <attribute NAME="kind" VALUE="answer"/>
            <attribute NAME="code" VALUE="YB-JD-15"/>
            <attribute NAME="answer" VALUE="参保人可激活医保电子凭证作为就医凭证，也可申领社会保障卡。婴幼儿的医保电子凭证可由监护人在“粤医保”或微信、支付宝的医保电子凭证入口以“亲情账户”方式激活使用。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
            <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
            <attribute NAME="department" VALUE="GZ-YB"/>
            <attribute NAME="department" VALUE="GZ-RS"/>
            <attribute NAME="procedure" VALUE="1. 监护人在“粤医保”小程序 → 医保电子凭证 → 添加亲情账户；&#xa;2. 或到社会保障卡服务网点申领实体社保卡。"/>
            <attribute NAME="material" VALUE="婴幼儿户口簿或出生医学证明"/>
            <attribute NAME="material" VALUE="监护人有效身份证件"/>
            <attribute NAME="time_limit" VALUE="电子凭证即时激活；实体卡制卡时限以服务网点告知为准"/>
            <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
            <attribute NAME="effective_from" VALUE="2026-01-01"/>
            <attribute NAME="keyword" VALUE="医保电子凭证"/>
            <attribute NAME="keyword" VALUE="社保卡"/>
            <attribute NAME="keyword" VALUE="就医凭证"/>
            <attribute NAME="synonym" VALUE="社会保障卡"/>
            <attribute NAME="synonym" VALUE="医保码"/>
          </node>
          <node TEXT="未取得凭证期间就医">
            <attribute NAME="kind" VALUE="answer"/>
            <attribute NAME="code" VALUE="YB-JD-16"/>
            <attribute NAME="answer" VALUE="已参保缴费但暂未取得就医凭证的，可在就医时出示有效身份证件或户口簿，由定点医疗机构按规定查询参保信息后结算；确实无法直接结算的，保留发票、费用清单和病历，按规定办理零星报销。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
            <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
            <attribute NAME="department" VALUE="GZ-YB"/>
            <attribute NAME="procedure" VALUE="1. 就医时告知医院已参保；&#xa;2. 无法直接结算的，先行垫付，持材料到医保经办窗口申请零星报销。"/>
            <attribute NAME="material" VALUE="医疗费用发票"/>
            <attribute NAME="material" VALUE="费用明细清单"/>
            <attribute NAME="material" VALUE="门诊病历或出院小结"/>
            <attribute NAME="material" VALUE="参保人身份证件或户口簿"/>
            <attribute NAME="time_limit" VALUE="零星报销以经办机构承诺时限为准"/>
            <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
            <attribute NAME="effective_from" VALUE="2026-01-01"/>
            <attribute NAME="keyword" VALUE="零星报销"/>
            <attribute NAME="keyword" VALUE="垫付"/>
            <attribute NAME="keyword" VALUE="就医结算"/>
          </node>
        </node>
        <node TEXT="已申领城乡居民医保就医凭证">
          <attribute NAME="kind" VALUE="situation"/>
          <attribute NAME="code" VALUE="YB-TJ-7"/>
          <node TEXT="社保卡挂失和补领">
            <attribute NAME="kind" VALUE="answer"/>
            <attribute NAME="code" VALUE="YB-JD-17"/>
            <attribute NAME="answer" VALUE="社会保障卡遗失的，请尽快挂失，避免被他人冒用；挂失后可补领新卡。挂失期间可使用医保电子凭证就医。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
            <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
            <attribute NAME="department" VALUE="GZ-RS"/>
            <attribute NAME="department" VALUE="GZ-YB"/>
            <attribute NAME="procedure" VALUE="1. 通过社保卡服务热线、“穗好办”或合作银行网点办理挂失；&#xa;2. 到社保卡服务网点申请补卡。"/>
            <attribute NAME="material" VALUE="参保人有效身份证件（婴幼儿为户口簿）"/>
            <attribute NAME="material" VALUE="代办的，另需代办人身份证件"/>
            <attribute NAME="fees" VALUE="补卡费用以服务网点公示为准"/>
            <attribute NAME="time_limit" VALUE="挂失即时生效；补卡时限以服务网点告知为准"/>
            <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
            <attribute NAME="effective_from" VALUE="2026-01-01"/>
            <attribute NAME="keyword" VALUE="社保卡挂失"/>
            <attribute NAME="keyword" VALUE="补卡"/>
            <attribute NAME="synonym" VALUE="社保卡丢了"/>
          </node>
          <node TEXT="门诊和住院结算">
            <attribute NAME="kind" VALUE="answer"/>
            <attribute NAME="code" VALUE="YB-JD-18"/>
            <attribute NAME="answer" VALUE="在本市定点医疗机构就医时出示医保电子凭证或社保卡即可直接结算，个人只需支付个人负担部分。普通门诊需在选定的门诊统筹定点机构就医；住院、门诊特定病种按规定比例报销，起付标准和支付比例以现行规定为准。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
            <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
            <attribute NAME="department" VALUE="GZ-YB"/>
            <attribute NAME="procedure" VALUE="1. 首次就医前在“粤医保”选定门诊统筹定点机构；&#xa;2. 就医时出示就医凭证；&#xa;3. 结算后在“粤医保”查询报销明细。"/>
            <attribute NAME="time_limit" VALUE="即时结算"/>
            <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
            <attribute NAME="effective_from" VALUE="2026-01-01"/>
            <attribute NAME="keyword" VALUE="门诊统筹"/>
            <attribute NAME="keyword" VALUE="住院报销"/>
            <attribute NAME="keyword" VALUE="直接结算"/>
          </node>
        </node>
      </node>
    </node>
    <node TEXT="非本市户籍">
      <attribute NAME="kind" VALUE="situation"/>
      <attribute NAME="code" VALUE="YB-TJ-3"/>
      <node TEXT="参保条件">
        <attribute NAME="kind" VALUE="answer"/>
        <attribute NAME="code" VALUE="YB-JD-19"/>
        <attribute NAME="answer" VALUE="非本市户籍婴幼儿，父母一方在本市参加职工社会保险、持有本市居住证，或属于在本市托育机构、幼儿园就读等情形的，可按规定在本市参加城乡居民医保。具体条件以现行规定为准，可拨打12345或到居住地街道（镇）政务服务中心咨询。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
        <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
        <attribute NAME="department" VALUE="GZ-YB"/>
        <attribute NAME="procedure" VALUE="1. 确认符合参保条件；&#xa;2. 按“参保登记”的办理途径提交申请。"/>
        <attribute NAME="material" VALUE="婴幼儿出生医学证明或户口簿"/>
        <attribute NAME="material" VALUE="父母一方的居住证或本市社保参保证明"/>
        <attribute NAME="material" VALUE="监护人有效身份证件"/>
        <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
        <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
        <attribute NAME="effective_from" VALUE="2026-01-01"/>
        <attribute NAME="keyword" VALUE="非本市户籍"/>
        <attribute NAME="keyword" VALUE="外地小孩"/>
        <attribute NAME="keyword" VALUE="居住证"/>
      </node>
      <node TEXT="参保登记和缴费">
        <attribute NAME="kind" VALUE="answer"/>
        <attribute NAME="code" VALUE="YB-JD-20"/>
        <attribute NAME="answer" VALUE="符合条件的非本市户籍婴幼儿，可通过“穗好办”“粤医保”或居住地街道（镇）政务服务中心办理参保登记，缴费标准与本市户籍婴幼儿相同，以当年公布的缴费标准为准。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
        <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
        <attribute NAME="department" VALUE="GZ-YB"/>
        <attribute NAME="procedure" VALUE="1. 网上或窗口办理参保登记；&#xa;2. 按通知通过税务部门渠道缴费；&#xa;3. 在“粤医保”查询参保状态。"/>
        <attribute NAME="material" VALUE="婴幼儿出生医学证明或户口簿"/>
        <attribute NAME="material" VALUE="父母一方的居住证或本市社保参保证明"/>
        <attribute NAME="material" VALUE="监护人有效身份证件"/>
        <attribute NAME="fees" VALUE="以当年公布的缴费标准为准"/>
        <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
        <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
        <attribute NAME="effective_from" VALUE="2026-01-01"/>
        <attribute NAME="keyword" VALUE="非本市户籍"/>
        <attribute NAME="keyword" VALUE="参保登记"/>
      </node>
    </node>
  </node>
  <node TEXT="全日制在校学生">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-52"/>
    <node TEXT="在校学生参保登记和缴费">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-21"/>
      <attribute NAME="answer" VALUE="本市各类学校的全日制在校学生（含符合条件的非本市户籍学生）一般以学校为单位统一办理城乡居民医保参保登记，个人按当年公布的缴费标准缴费。新生入学后请留意学校通知；未通过学校参保的，可按居民身份自行办理。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="department" VALUE="GZ-JY"/>
      <attribute NAME="procedure" VALUE="1. 按学校通知提交参保信息；&#xa;2. 在规定时间内通过税务部门渠道缴费；&#xa;3. 在“粤医保”查询参保状态。"/>
      <attribute NAME="material" VALUE="学生有效身份证件或户口簿"/>
      <attribute NAME="material" VALUE="学籍信息（由学校提供）"/>
      <attribute NAME="fees" VALUE="以当年公布的缴费标准为准"/>
      <attribute NAME="time_limit" VALUE="以学校和医保部门通知的集中参保期为准"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="学生医保"/>
      <attribute NAME="keyword" VALUE="大学生医保"/>
      <attribute NAME="keyword" VALUE="中小学生"/>
      <attribute NAME="synonym" VALUE="学生平安医保"/>
    </node>
    <node TEXT="在校学生门诊和住院待遇">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-22"/>
      <attribute NAME="answer" VALUE="在校学生参保后享受城乡居民医保普通门诊、门诊特定病种和住院待遇，并按规定享受大病保险。在校期间在选定的门诊统筹定点机构（多为学校医务室或就近社区卫生服务中心）就医。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="procedure" VALUE="1. 在“粤医保”查看或变更门诊统筹定点机构；&#xa;2. 就医时出示医保电子凭证或社保卡。"/>
      <attribute NAME="time_limit" VALUE="即时结算"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="学生看病报销"/>
      <attribute NAME="keyword" VALUE="门诊统筹"/>
    </node>
  </node>
  <node TEXT="无业人员">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-55"/>
    <node TEXT="本市户籍">
      <attribute NAME="kind" VALUE="situation"/>
      <attribute NAME="code" VALUE="YB-TJ-56"/>
      <node TEXT="参加城乡居民医保">
        <attribute NAME="kind" VALUE="answer"/>
        <attribute NAME="code" VALUE="YB-JD-23"/>
        <attribute NAME="answer" VALUE="本市户籍、未参加职工医保的无业人员，可参加城乡居民医保，在集中缴费期内登记并缴纳下一年度费用。属于低保、特困等困难群体的，个人缴费部分按规定由财政资助。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
        <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
        <attribute NAME="department" VALUE="GZ-YB"/>
        <attribute NAME="procedure" VALUE="1. “穗好办”“粤医保”或户籍所在地街道（镇）政务服务中心办理参保登记；&#xa;2. 通过税务部门渠道缴费。"/>
        <attribute NAME="material" VALUE="本人有效身份证件"/>
        <attribute NAME="material" VALUE="户口簿"/>
        <attribute NAME="fees" VALUE="以当年公布的缴费标准为准"/>
        <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
        <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
        <attribute NAME="effective_from" VALUE="2026-01-01"/>
        <attribute NAME="keyword" VALUE="无业"/>
        <attribute NAME="keyword" VALUE="居民医保"/>
        <attribute NAME="keyword" VALUE="失业"/>
      </node>
    </node>
    <node TEXT="非本市户籍">
      <attribute NAME="kind" VALUE="situation"/>
      <attribute NAME="code" VALUE="YB-TJ-57"/>
      <node TEXT="非本市户籍无业人员参保">
        <attribute NAME="kind" VALUE="answer"/>
        <attribute NAME="code" VALUE="YB-JD-24"/>
        <attribute NAME="answer" VALUE="非本市户籍、持本市居住证的无业人员，符合条件的可在本市参加城乡居民医保；不符合条件的，可在户籍地参加城乡居民医保，或以灵活就业人员身份参加本市职工医保（条件以现行规定为准）。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
        <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市城乡居民基本医疗保险现行规定（以最新公布文件为准）"/>
        <attribute NAME="department" VALUE="GZ-YB"/>
        <attribute NAME="procedure" VALUE="1. 拨打12345或到居住地街道（镇）政务服务中心确认参保条件；&#xa;2. 按确认的参保方式办理登记和缴费。"/>
        <attribute NAME="material" VALUE="本人有效身份证件"/>
        <attribute NAME="material" VALUE="本市居住证"/>
        <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
        <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
        <attribute NAME="effective_from" VALUE="2026-01-01"/>
        <attribute NAME="keyword" VALUE="外地户籍"/>
        <attribute NAME="keyword" VALUE="居住证"/>
        <attribute NAME="keyword" VALUE="无业"/>
      </node>
    </node>
  </node>
  <node TEXT="灵活就业人员">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-122"/>
    <node TEXT="以灵活就业人员身份参加职工医保">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-25"/>
      <attribute NAME="answer" VALUE="无雇工的个体工商户、未在用人单位参保的非全日制从业人员及其他灵活就业人员，可以个人身份参加职工医保，按规定缴费后享受职工医保待遇。户籍等条件以现行规定为准。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="department" VALUE="GZ-RS"/>
      <attribute NAME="procedure" VALUE="1. “穗好办”或“粤税通” → 灵活就业人员参保登记；&#xa;2. 按月或按规定周期通过税务部门缴费；&#xa;3. 连续缴费满规定期限后享受待遇。"/>
      <attribute NAME="material" VALUE="本人有效身份证件"/>
      <attribute NAME="fees" VALUE="按当年公布的缴费基数和费率计算"/>
      <attribute NAME="time_limit" VALUE="资料齐全的，即时办结"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="灵活就业"/>
      <attribute NAME="keyword" VALUE="个体户"/>
      <attribute NAME="keyword" VALUE="自由职业"/>
      <attribute NAME="synonym" VALUE="个人交医保"/>
      <attribute NAME="synonym" VALUE="自己交社保"/>
    </node>
    <node TEXT="缴费基数和缴费方式">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-26"/>
      <attribute NAME="answer" VALUE="灵活就业人员的医保缴费基数、费率和缴费档次以当年公布的标准为准。可选择银行代扣或自行缴纳；欠费期间发生的医疗费用不能按职工医保报销，请按时缴费。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="procedure" VALUE="1. 在“粤税通”查询应缴金额；&#xa;2. 签订银行代扣协议或按月自行缴费。"/>
      <attribute NAME="fees" VALUE="以当年公布的缴费基数和费率为准"/>
      <attribute NAME="time_limit" VALUE="按月缴费"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="缴费基数"/>
      <attribute NAME="keyword" VALUE="代扣"/>
      <attribute NAME="keyword" VALUE="断缴"/>
    </node>
  </node>
  <node TEXT="在职人员">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-123"/>
    <node TEXT="单位未为职工参保或少缴">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-27"/>
      <attribute NAME="answer" VALUE="用人单位应当依法为职工参加职工医保并足额缴费。单位未参保或少缴的，职工可向医疗保障部门或社会保险费征收部门反映，也可拨打12345投诉；热线受理后转相关部门调查处理，并在规定时限内答复。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="department" VALUE="GZ-RS"/>
      <attribute NAME="procedure" VALUE="1. 拨打12345或到医保经办窗口反映，说明单位名称、地址、用工时间；&#xa;2. 相关部门调查核实并责令单位补缴；&#xa;3. 承办单位答复处理结果。"/>
      <attribute NAME="material" VALUE="劳动合同或工资流水等劳动关系证明"/>
      <attribute NAME="material" VALUE="本人有效身份证件"/>
      <attribute NAME="time_limit" VALUE="以工单办理时限为准"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="单位不买社保"/>
      <attribute NAME="keyword" VALUE="少缴"/>
      <attribute NAME="keyword" VALUE="补缴"/>
      <attribute NAME="synonym" VALUE="公司没交医保"/>
    </node>
    <node TEXT="职工医保关系转移接续">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-28"/>
      <attribute NAME="answer" VALUE="跨省或省内跨市流动就业的，可通过国家医保服务平台、“粤医保”申请转移接续职工医保关系，缴费年限按规定累计计算。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="procedure" VALUE="1. 在转入地参保后，通过国家医保服务平台或“粤医保”提交转移申请；&#xa;2. 转出地和转入地经办机构按规定办理。"/>
      <attribute NAME="material" VALUE="本人有效身份证件"/>
      <attribute NAME="material" VALUE="参保凭证（如需）"/>
      <attribute NAME="time_limit" VALUE="以经办机构告知时限为准"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="转移接续"/>
      <attribute NAME="keyword" VALUE="异地转入"/>
      <attribute NAME="keyword" VALUE="医保关系转移"/>
    </node>
  </node>
  <node TEXT="达到法定退休年龄的人员">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-139"/>
    <node TEXT="退休时医保缴费年限不足">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-29"/>
      <attribute NAME="answer" VALUE="办理退休时，职工医保累计缴费年限未达到规定年限的，可按规定一次性或按月补足差额年限后，享受退休人员职工医保待遇，退休后不再缴费。具体年限和补缴标准以现行规定为准。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="department" VALUE="GZ-RS"/>
      <attribute NAME="procedure" VALUE="1. 办理退休手续时，由医保经办机构核定缴费年限；&#xa;2. 年限不足的，按告知办理补缴；&#xa;3. 补足后享受退休人员待遇。"/>
      <attribute NAME="material" VALUE="本人有效身份证件"/>
      <attribute NAME="material" VALUE="退休审批材料"/>
      <attribute NAME="time_limit" VALUE="以经办机构告知时限为准"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="退休"/>
      <attribute NAME="keyword" VALUE="缴费年限"/>
      <attribute NAME="keyword" VALUE="补缴"/>
    </node>
    <node TEXT="退休人员医保待遇">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-30"/>
      <attribute NAME="answer" VALUE="退休人员享受职工医保待遇，个人账户和门诊、住院报销比例按退休人员标准执行，具体以现行规定为准。异地安居的退休人员可办理异地就医备案后在安居地直接结算。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="procedure" VALUE="1. 在“粤医保”查询待遇；&#xa;2. 异地安居的，在国家医保服务平台或“粤医保”办理异地就医备案。"/>
      <attribute NAME="time_limit" VALUE="备案一般即时办结"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="退休待遇"/>
      <attribute NAME="keyword" VALUE="异地就医备案"/>
    </node>
  </node>
  <node TEXT="原机关事业单位人员">
    <attribute NAME="kind" VALUE="situation"/>
    <attribute NAME="code" VALUE="YB-TJ-149"/>
    <node TEXT="原公费医疗人员纳入职工医保">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-31"/>
      <attribute NAME="answer" VALUE="原享受公费医疗的机关事业单位人员已按规定纳入职工医保，参保缴费由所在单位统一办理，待遇按职工医保执行，并按规定享受公务员医疗补助等补充待遇。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="department" VALUE="GZ-RS"/>
      <attribute NAME="procedure" VALUE="1. 由所在单位人事部门统一办理参保；&#xa;2. 个人可在“粤医保”查询参保和待遇情况。"/>
      <attribute NAME="time_limit" VALUE="由单位统一办理"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="公费医疗"/>
      <attribute NAME="keyword" VALUE="机关事业单位"/>
      <attribute NAME="keyword" VALUE="公务员医疗补助"/>
    </node>
    <node TEXT="原机关事业单位退休人员就医结算">
      <attribute NAME="kind" VALUE="answer"/>
      <attribute NAME="code" VALUE="YB-JD-32"/>
      <attribute NAME="answer" VALUE="原机关事业单位退休人员持医保电子凭证或社保卡在定点医疗机构就医，统筹基金和公务员医疗补助部分直接结算，个人只需支付个人负担部分。&#xa;（演示答案：具体以医疗保障部门最新公布的政策为准。）"/>
      <attribute NAME="legal_basis" VALUE="《中华人民共和国社会保险法》；广州市职工社会医疗保险现行规定（以最新公布文件为准）"/>
      <attribute NAME="department" VALUE="GZ-YB"/>
      <attribute NAME="procedure" VALUE="1. 就医时出示就医凭证；&#xa;2. 对报销有疑问的，可到医保经办窗口或拨打12345咨询。"/>
      <attribute NAME="time_limit" VALUE="即时结算"/>
      <attribute NAME="contact" VALUE="12345政务服务便民热线；各区医疗保障经办窗口（以“穗好办”公布的地址为准）"/>
      <attribute NAME="effective_from" VALUE="2026-01-01"/>
      <attribute NAME="keyword" VALUE="退休"/>
      <attribute NAME="keyword" VALUE="直接结算"/>
      <attribute NAME="keyword" VALUE="公务员医疗补助"/>
    </node>
  </node>
</node>
</map>
